"""Trains one fault classifier on DATA/train.parquet and exports it to ONNX.

Usage: train.py --arch lenet|lean --data DIR --out models/<name>.onnx [--epochs N]
Deterministic for a given dataset, architecture and seed (JAX on CPU).
"""

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pyarrow.parquet as pq

from model import ARCHITECTURES, CLASSES, INPUT_SHAPE, export_onnx, flops_per_image, init_params, logits

SEED = 4
BATCH = 64
VALIDATION_SHARE = 0.1
EPOCHS = {"lenet": 2, "lean": 20, "wide": 20}
LEARNING_RATE = {"lenet": 1e-3, "lean": 2e-3, "wide": 2e-3}
WEIGHT_DECAY = 1e-4


def load(path):
    """Images [N,4,64,64] float32 and labels [N] of the windows that have a scalogram, read a
    batch at a time into one array: the images alone are 64 KiB a window (6 GB for 95,000)."""
    file = pq.ParquetFile(path)
    rows = file.metadata.num_rows
    images = np.empty((rows, *INPUT_SHAPE), np.float32)
    labels = np.empty(rows, np.int32)
    n = 0
    for batch in file.iter_batches(batch_size=1024, columns=["fault_code", "scalogram"]):
        scalogram = batch.column("scalogram")
        valid = np.asarray(scalogram.is_valid())
        k = int(valid.sum())
        values = scalogram.filter(scalogram.is_valid()).flatten().to_numpy(zero_copy_only=False)
        images[n:n + k] = values.reshape(k, *INPUT_SHAPE)
        labels[n:n + k] = batch.column("fault_code").to_numpy()[valid]
        n += k
    return images[:n], labels[:n]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES), required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int)
    args = parser.parse_args()
    arch = ARCHITECTURES[args.arch]
    epochs = args.epochs or EPOCHS[arch.name]

    images, labels = load(args.data / "train.parquet")
    rng = np.random.default_rng(SEED)
    order = rng.permutation(len(labels))
    n_val = int(len(labels) * VALIDATION_SHARE)
    val_idx, train_idx = order[:n_val], order[n_val:]
    print(f"{arch.name}: {flops_per_image(arch) / 1e6:.1f} MFLOP/image; train {len(train_idx)}, "
          f"validation {n_val}, per class {np.bincount(labels, minlength=6).tolist()}", flush=True)

    steps_per_epoch = len(train_idx) // BATCH
    schedule = optax.cosine_decay_schedule(LEARNING_RATE[arch.name], epochs * steps_per_epoch)
    optimizer = optax.adamw(schedule, weight_decay=WEIGHT_DECAY)
    params = init_params(arch, jax.random.PRNGKey(SEED))
    state = optimizer.init(params)

    @jax.jit
    def step(params, state, x, y):
        def loss(p):
            return optax.softmax_cross_entropy_with_integer_labels(logits(arch, p, x), y).mean()

        value, grads = jax.value_and_grad(loss)(params)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, value

    @jax.jit
    def predict(params, x):
        return jnp.argmax(logits(arch, params, x), axis=1)

    def accuracy(idx):
        hits = 0
        for i in range(0, len(idx), 256):
            batch = idx[i:i + 256]
            hits += int(jnp.sum(predict(params, images[batch]) == labels[batch]))
        return hits / len(idx)

    history = []
    for epoch in range(epochs):
        started = time.time()
        shuffled = rng.permutation(train_idx)
        losses = []
        for s in range(steps_per_epoch):
            batch = np.sort(shuffled[s * BATCH:(s + 1) * BATCH])
            params, state, value = step(params, state, images[batch], labels[batch])
            losses.append(value)
        loss = float(np.mean(jax.device_get(losses)))
        val = accuracy(val_idx)
        history.append({"epoch": epoch + 1, "loss": loss, "validation_accuracy": val})
        print(f"  epoch {epoch + 1}/{epochs}: loss {loss:.4f}, validation accuracy {val:.4f} "
              f"({time.time() - started:.0f} s)", flush=True)

    error = export_onnx(arch, params, str(args.out), images[val_idx[:16]])
    print(f"{args.out}: ONNX Runtime vs JAX max |diff| {error:.2e}", flush=True)
    log = args.out.with_suffix(".training.json")
    log.write_text(json.dumps({
        "architecture": arch.name, "flops_per_image": flops_per_image(arch), "epochs": epochs,
        "batch": BATCH, "learning_rate": LEARNING_RATE[arch.name], "weight_decay": WEIGHT_DECAY,
        "seed": SEED, "train_windows": len(train_idx), "validation_windows": n_val,
        "classes": CLASSES, "history": history,
    }, indent=1) + "\n")


if __name__ == "__main__":
    main()
