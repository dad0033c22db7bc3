"""The two fault classifiers: the LeNet of docs/architecture.md and a lean network, in plain
JAX, and their export to ONNX.

Both take float32 images [N, 4, 64, 64] (channel-first: voltage, current, temperature,
irradiance; scale; time) as `pv_scalogram` lays them out and return the six class probabilities
[N, 6] (gold's `fault_code` order in docs/architecture.md: normal, line_line, line_ground,
open_circuit, partial_shading, arc_fault).

The ONNX graph is written operator by operator from the trained weights (Conv, Relu, MaxPool,
Flatten, Gemm, Softmax at opset 17), so what runs in pvflow is exactly this forward pass; the
export checks itself against JAX with ONNX Runtime.
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

CLASSES = ["normal", "line_line", "line_ground", "open_circuit", "partial_shading", "arc_fault"]
INPUT_SHAPE = (4, 64, 64)


@dataclass(frozen=True)
class Conv:
    out_channels: int
    kernel: int
    stride: int = 1
    pool: int = 2  # max-pool window and stride after the ReLU; 1 = none


@dataclass(frozen=True)
class Architecture:
    name: str
    convs: tuple
    dense: tuple  # hidden widths; the 6-way output layer follows


ARCHITECTURES = {
    # docs/architecture.md ("The model"): two 5x5 conv + max-pool stages with 32 and 64
    # filters, dense 128 and 54, softmax over 6. 'same' padding keeps 64x64 -> 32x32 -> 16x16.
    "lenet": Architecture("lenet", (Conv(32, 5), Conv(64, 5)), (128, 54)),
    # A stride-2 first stage and narrower layers: about 1/20 of the LeNet's FLOPs.
    "lean": Architecture("lean", (Conv(16, 5, stride=2), Conv(32, 3)), (64,)),
    # The lean network with twice the filters and a wider head: about 4x its FLOPs, for the
    # variety of plants a nameplate-normalised model sees.
    "wide": Architecture("wide", (Conv(32, 5, stride=2), Conv(64, 3)), (128,)),
}


def conv_shapes(arch):
    """(in_channels, out_channels, kernel, stride, pool, out_hw after conv, out_hw after pool)."""
    channels, hw = INPUT_SHAPE[0], INPUT_SHAPE[1]
    shapes = []
    for conv in arch.convs:
        conv_hw = hw // conv.stride
        pooled = conv_hw // conv.pool
        shapes.append((channels, conv.out_channels, conv.kernel, conv.stride, conv.pool, conv_hw, pooled))
        channels, hw = conv.out_channels, pooled
    return shapes, channels * hw * hw


def flops_per_image(arch):
    """Multiply-adds x 2 of the convolutions and dense layers (pooling, ReLU, softmax ignored)."""
    shapes, flat = conv_shapes(arch)
    total = 0
    for cin, cout, k, _stride, _pool, conv_hw, _pooled in shapes:
        total += 2 * conv_hw * conv_hw * cout * cin * k * k
    widths = [flat, *arch.dense, len(CLASSES)]
    for a, b in zip(widths, widths[1:]):
        total += 2 * a * b
    return total


def init_params(arch, key):
    """He-normal weights, zero biases. Conv weights OIHW, dense weights [in, out]."""
    shapes, flat = conv_shapes(arch)
    params = []
    for cin, cout, k, *_ in shapes:
        key, sub = jax.random.split(key)
        w = jax.random.normal(sub, (cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))
        params.append((w, jnp.zeros(cout)))
    widths = [flat, *arch.dense, len(CLASSES)]
    for a, b in zip(widths, widths[1:]):
        key, sub = jax.random.split(key)
        params.append((jax.random.normal(sub, (a, b)) * np.sqrt(2.0 / a), jnp.zeros(b)))
    return params


def logits(arch, params, images):
    """images [N, 4, 64, 64] -> logits [N, 6]."""
    x = images
    for (w, b), conv in zip(params, arch.convs):
        pad = conv.kernel // 2
        x = jax.lax.conv_general_dilated(
            x, w, (conv.stride, conv.stride), [(pad, pad), (pad, pad)],
            dimension_numbers=("NCHW", "OIHW", "NCHW"),
        )
        x = jax.nn.relu(x + b[None, :, None, None])
        if conv.pool > 1:
            x = jax.lax.reduce_window(
                x, -jnp.inf, jax.lax.max, (1, 1, conv.pool, conv.pool), (1, 1, conv.pool, conv.pool), "VALID"
            )
    x = x.reshape(x.shape[0], -1)  # C, H, W order, as ONNX Flatten
    dense = params[len(arch.convs):]
    for i, (w, b) in enumerate(dense):
        x = x @ w + b
        if i < len(dense) - 1:
            x = jax.nn.relu(x)
    return x


def export_onnx(arch, params, path, check_images):
    """Writes the network as ONNX (input `scalogram` [N,4,64,64] float32, output
    `probabilities` [N,6]) and checks ONNX Runtime against JAX on `check_images`."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    current = "scalogram"
    shapes, _ = conv_shapes(arch)
    for i, ((w, b), (cin, cout, k, stride, pool, *_)) in enumerate(zip(params, shapes)):
        inits += [numpy_helper.from_array(np.asarray(w, np.float32), f"conv{i}.weight"),
                  numpy_helper.from_array(np.asarray(b, np.float32), f"conv{i}.bias")]
        pad = k // 2
        nodes.append(helper.make_node("Conv", [current, f"conv{i}.weight", f"conv{i}.bias"], [f"conv{i}"],
                                      kernel_shape=[k, k], strides=[stride, stride], pads=[pad, pad, pad, pad]))
        nodes.append(helper.make_node("Relu", [f"conv{i}"], [f"relu{i}"]))
        current = f"relu{i}"
        if pool > 1:
            nodes.append(helper.make_node("MaxPool", [current], [f"pool{i}"],
                                          kernel_shape=[pool, pool], strides=[pool, pool]))
            current = f"pool{i}"
    nodes.append(helper.make_node("Flatten", [current], ["flat"], axis=1))
    current = "flat"
    dense = params[len(arch.convs):]
    for i, (w, b) in enumerate(dense):
        inits += [numpy_helper.from_array(np.asarray(w, np.float32), f"dense{i}.weight"),
                  numpy_helper.from_array(np.asarray(b, np.float32), f"dense{i}.bias")]
        nodes.append(helper.make_node("Gemm", [current, f"dense{i}.weight", f"dense{i}.bias"], [f"dense{i}"]))
        current = f"dense{i}"
        if i < len(dense) - 1:
            nodes.append(helper.make_node("Relu", [current], [f"dense_relu{i}"]))
            current = f"dense_relu{i}"
    nodes.append(helper.make_node("Softmax", [current], ["probabilities"], axis=1))
    graph = helper.make_graph(
        nodes, f"pvflow_{arch.name}",
        [helper.make_tensor_value_info("scalogram", TensorProto.FLOAT, ["N", *INPUT_SHAPE])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", len(CLASSES)])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="pvflow models/train")
    model.ir_version = 8
    model.doc_string = "pvflow PV fault classifier: " + ", ".join(f"{i}={c}" for i, c in enumerate(CLASSES))
    onnx.checker.check_model(model)
    onnx.save(model, path)

    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = session.run(["probabilities"], {"scalogram": check_images.astype(np.float32)})[0]
    want = np.asarray(jax.nn.softmax(logits(arch, params, jnp.asarray(check_images)), axis=1))
    err = float(np.max(np.abs(got - want)))
    if err > 1e-4:
        raise RuntimeError(f"ONNX export of {arch.name} differs from JAX by {err}")
    return err
