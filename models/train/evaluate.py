"""Held-out metrics of a shipped ONNX model, computed with ONNX Runtime on the file itself.

Usage: evaluate.py --model models/<name>.onnx --data DIR [--json OUT]
For each DATA/heldout_*.parquet: accuracy, macro-F1, per-class precision and recall and the
confusion matrix (rows: true class, columns: predicted), over all windows with a scalogram and
over daylight windows (peak irradiance >= DAYLIGHT_W_M2).
"""

import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pyarrow.parquet as pq

from model import CLASSES, INPUT_SHAPE

DAYLIGHT_W_M2 = 50.0
BATCH = 256


def metrics(truth, predicted):
    k = len(CLASSES)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    tp = np.diag(confusion).astype(float)
    predicted_n = confusion.sum(axis=0)
    true_n = confusion.sum(axis=1)
    precision = np.divide(tp, predicted_n, out=np.zeros(k), where=predicted_n > 0)
    recall = np.divide(tp, true_n, out=np.zeros(k), where=true_n > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(k), where=precision + recall > 0)
    present = true_n > 0
    return {
        "windows": int(len(truth)),
        "accuracy": float(tp.sum() / max(len(truth), 1)),
        "macro_f1": float(f1[present].mean()),
        "per_class": {c: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                          "support": int(true_n[i])} for i, c in enumerate(CLASSES)},
        "confusion": confusion.tolist(),
    }


def evaluate(session, path):
    table = pq.read_table(path, columns=["fault_code", "peak_irradiance", "scalogram"])
    scalogram = table.column("scalogram").combine_chunks()
    valid = np.asarray(scalogram.is_valid())
    truth = table.column("fault_code").to_numpy()[valid]
    peak = table.column("peak_irradiance").to_numpy()[valid]
    images = scalogram.filter(scalogram.is_valid()).flatten().to_numpy(zero_copy_only=False)
    images = images.astype(np.float32).reshape(-1, *INPUT_SHAPE)
    predicted = np.concatenate([
        np.argmax(session.run(["probabilities"], {"scalogram": images[i:i + BATCH]})[0], axis=1)
        for i in range(0, len(images), BATCH)
    ])
    day = peak >= DAYLIGHT_W_M2
    return {"all": metrics(truth, predicted), "daylight": metrics(truth[day], predicted[day]),
            "windows_without_scalogram": int((~valid).sum())}


def summary(name, result):
    lines = [f"{name}: {result['windows']} windows, accuracy {result['accuracy']:.4f}, "
             f"macro-F1 {result['macro_f1']:.4f}"]
    for c, m in result["per_class"].items():
        lines.append(f"  {c:16s} precision {m['precision']:.3f} recall {m['recall']:.3f} "
                     f"f1 {m['f1']:.3f} support {m['support']}")
    lines.append("  confusion (rows true, columns predicted, order " + ", ".join(CLASSES) + "):")
    lines += ["    " + " ".join(f"{v:6d}" for v in row) for row in result["confusion"]]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(args.model), options, providers=["CPUExecutionProvider"])
    results = {}
    for path in sorted(args.data.glob("heldout_*.parquet")):
        name = path.stem
        results[name] = evaluate(session, path)
        for scope in ("all", "daylight"):
            print(summary(f"{args.model.name} on {name} ({scope})", results[name][scope]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
