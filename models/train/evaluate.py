"""Held-out metrics of a shipped ONNX model, computed with ONNX Runtime on the file itself.

Usage: evaluate.py --model models/<name>.onnx --data DIR [--json OUT] [--calibration SVG]
For each DATA/heldout_*.parquet: accuracy, macro-F1, per-class precision and recall and the
confusion matrix (rows: true class, columns: predicted), over all windows with a scalogram and
over daylight windows (peak irradiance >= DAYLIGHT_W_M2); the expected calibration error (10
bins of the top probability) and the false-alarm rate (healthy daylight windows called a
fault), and macro-F1 and false alarms by module, by site and by strings per array
(DATA/variety.json says which plant and array is which). --calibration writes the reliability
diagram of every set as one SVG.
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


CALIBRATION_BINS = 10


def calibration(truth, probabilities):
    """Expected calibration error and, per bin of the top probability, (confidence, accuracy,
    windows)."""
    confidence = probabilities.max(axis=1)
    hit = probabilities.argmax(axis=1) == truth
    bins = np.minimum((confidence * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    table, ece = [], 0.0
    for b in range(CALIBRATION_BINS):
        inside = bins == b
        if inside.any():
            conf, acc = float(confidence[inside].mean()), float(hit[inside].mean())
            ece += inside.mean() * abs(conf - acc)
            table.append((conf, acc, int(inside.sum())))
    return float(ece), table


def reliability_svg(curves):
    """A reliability diagram: accuracy against confidence per bin, one polyline per set."""
    size, pad = 320, 40
    colours = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e"]
    x = lambda v: pad + v * size
    y = lambda v: pad + (1 - v) * size
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size + 2 * pad + 180}" height="{size + 2 * pad}">',
             '<rect width="100%" height="100%" fill="white"/>',
             f'<rect x="{pad}" y="{pad}" width="{size}" height="{size}" fill="none" stroke="#888"/>',
             f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}" stroke="#bbb" stroke-dasharray="4"/>',
             f'<text x="{pad + size / 2}" y="{pad + size + 28}" text-anchor="middle" font-size="12">confidence (top probability)</text>',
             f'<text x="12" y="{pad + size / 2}" transform="rotate(-90 12 {pad + size / 2})" text-anchor="middle" font-size="12">accuracy</text>']
    for k, (name, ece, table) in enumerate(curves):
        colour = colours[k % len(colours)]
        points = " ".join(f"{x(c):.1f},{y(a):.1f}" for c, a, _ in table)
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts += [f'<circle cx="{x(c):.1f}" cy="{y(a):.1f}" r="3" fill="{colour}"/>' for c, a, _ in table]
        parts.append(f'<text x="{pad + size + 12}" y="{pad + 16 + 18 * k}" font-size="12" fill="{colour}">'
                     f'{name}: ECE {ece:.3f}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def evaluate(session, path, plants):
    table = pq.read_table(path, columns=["plant", "device_id", "fault_code", "peak_irradiance",
                                         "scalogram"])
    scalogram = table.column("scalogram").combine_chunks()
    valid = np.asarray(scalogram.is_valid())
    truth = table.column("fault_code").to_numpy()[valid]
    peak = table.column("peak_irradiance").to_numpy()[valid]
    plant = np.asarray(table.column("plant").to_pylist(), dtype=object)[valid]
    device = np.asarray(table.column("device_id").to_pylist(), dtype=object)[valid]
    images = scalogram.filter(scalogram.is_valid()).flatten().to_numpy(zero_copy_only=False)
    images = images.astype(np.float32).reshape(-1, *INPUT_SHAPE)
    probabilities = np.concatenate([
        session.run(["probabilities"], {"scalogram": images[i:i + BATCH]})[0]
        for i in range(0, len(images), BATCH)
    ])
    predicted = np.argmax(probabilities, axis=1)
    day = peak >= DAYLIGHT_W_M2
    ece, table = calibration(truth, probabilities)
    healthy_day = day & (truth == 0)
    groups = {key: np.array([plants.get(p, {}).get(key, p) for p in plant], dtype=object)
              for key in ("module", "site")}
    # variety.py names a plant's array types a0, a1, ... and their devices a0-000, a0-001, ...
    strings = [plants.get(p, {}).get("strings", {}).get(d.split("-")[0]) for p, d in zip(plant, device)]
    if all(s is not None for s in strings):
        groups["layout"] = np.array([f"{s} string{'s' if s > 1 else ''}" for s in strings], dtype=object)
    return {"all": metrics(truth, predicted), "daylight": metrics(truth[day], predicted[day]),
            "windows_without_scalogram": int((~valid).sum()),
            "expected_calibration_error": ece, "reliability": table,
            "false_alarm_rate": false_alarm_rate(truth, predicted, day),
            "healthy_daylight_windows": int(healthy_day.sum()),
            "by": {key: {group: {"macro_f1": metrics(truth[inside], predicted[inside])["macro_f1"],
                                 "false_alarm_rate": false_alarm_rate(truth[inside], predicted[inside], day[inside])}
                         for group in sorted(set(labels))
                         for inside in [labels == group]}
                   for key, labels in groups.items()}}


def false_alarm_rate(truth, predicted, day):
    """The share of healthy daylight windows called a fault."""
    healthy_day = day & (truth == 0)
    return float((predicted[healthy_day] != 0).mean()) if healthy_day.any() else 0.0


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
    parser.add_argument("--calibration", type=Path, help="reliability diagram (SVG) to write")
    args = parser.parse_args()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(args.model), options, providers=["CPUExecutionProvider"])
    variety = args.data / "variety.json"
    plants = json.loads(variety.read_text()).get("plants", {}) if variety.exists() else {}
    results = {}
    for path in sorted(args.data.glob("heldout_*.parquet")):
        name = path.stem
        results[name] = evaluate(session, path, plants)
        for scope in ("all", "daylight"):
            print(summary(f"{args.model.name} on {name} ({scope})", results[name][scope]), flush=True)
        r = results[name]
        print(f"  expected calibration error {r['expected_calibration_error']:.4f}; false alarms "
              f"{r['false_alarm_rate']:.4%} of {r['healthy_daylight_windows']} healthy daylight windows",
              flush=True)
        for key, groups in r["by"].items():
            for group, m in groups.items():
                print(f"  {key} {group}: macro-F1 {m['macro_f1']:.4f}, false alarms "
                      f"{m['false_alarm_rate']:.3%}", flush=True)
    if args.calibration:
        args.calibration.write_text(reliability_svg(
            [(name, r["expected_calibration_error"], r["reliability"]) for name, r in results.items()]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
