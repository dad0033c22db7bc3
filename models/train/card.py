"""Prints the model card (Markdown) of a nameplate-normalised model that train.sh trained.

Usage: card.py --out DIR --data DIR
Reads DIR/metrics.json (evaluate.py), DIR/pv_fault.training.json (train.py),
DIR/normalization.json and DATA/variety.json (dataset.py): which plants trained it, which were
held out, and how it scored on them.
"""

import argparse
import json
from pathlib import Path

from model import CLASSES

# The targets for a model that generalises (docs/data-quality.md, models/README.md).
TARGETS = {"heldout_clean": 0.95, "heldout_realistic": 0.90, "heldout_noise3": 0.90}
FALSE_ALARM_TARGET = 0.005


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args()
    metrics = json.loads((args.out / "metrics.json").read_text())
    training = json.loads((args.out / "pv_fault.training.json").read_text())
    normalization = json.loads((args.out / "normalization.json").read_text())
    variety = json.loads((args.data / "variety.json").read_text())

    missed = [name for name, r in metrics.items()
              if r["all"]["macro_f1"] < TARGETS.get(name, 0.0) or r["false_alarm_rate"] >= FALSE_ALARM_TARGET]
    print(f"# Model card: {args.out.name}\n")
    if missed:
        print(f"**Status: misses its targets on {', '.join(missed)}** (table below): not ready "
              "to replace the shipped default (`models/pv_fault_lean.onnx`, standard "
              "normalisation, trained on the simulator's one design).\n")
    else:
        print("**Status: meets its targets** on every held-out set (table below).\n")
    scaled = {
        "nameplate": "each window's voltage over its array's Vmp at STC, current over its Imp",
        "operating_point": "each reading's voltage over its array's Vmp at the reading's "
                           "temperature (by the array's gamma), current over its Imp at the "
                           "reading's irradiance (no lower than 100 W/m2)",
    }[normalization["method"]]
    print(f"A lean CNN (models/README.md, *Architectures*) over nameplate-normalised scalograms: "
          f"{scaled}, irradiance over 1000 W/m2, temperature as read (`\"method\": "
          f"\"{normalization['method']}\"` in `normalization.json`, docs/udfs.md), so one model "
          "serves arrays of any size and module. pvflow passes each device's nameplate from "
          "`devices` (the plant description), else `[plant] v_mp`, `i_mp` and "
          "`gamma_pdc_per_c`.\n")
    print("What changed from earlier general models (STC nameplate, then the operating point, "
          "then twice the windows), and where this one errs: models/README.md, "
          "*Nameplate-normalised models*.\n")
    print("Use: `[model] path` = `" + str(args.out / "pv_fault.onnx") + "`, `[model] normalization` = `"
          + str(args.out / "normalization.json") + "`.\n")
    print("## Trained on\n")
    print(f"- modules: {', '.join(variety['train_modules'])}")
    print(f"- sites: {', '.join(variety['train_sites'])}")
    print(f"- {training['train_windows']} windows ({training['validation_windows']} more for "
          f"validation), {training['epochs']} epochs, seed {training['seed']}")
    print(f"- normalisation mean {normalization['mean']}, std {normalization['std']}\n")
    print("## Held out\n")
    if variety.get("heldout_modules"):
        print(f"- modules never trained on: {', '.join(variety['heldout_modules'])}")
        print(f"- sites never trained on: {', '.join(variety['heldout_sites'])}\n")
    else:
        print(f"- {variety.get('heldout', 'other plants')}\n")
    print("| set | windows | macro-F1 (target) | accuracy | ECE | false alarms on healthy daylight windows (target < 0.5 %) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, r in metrics.items():
        target = TARGETS.get(name)
        met = "" if target is None else (" met" if r["all"]["macro_f1"] >= target else " **missed**")
        alarms = r["false_alarm_rate"]
        alarm_met = " met" if alarms < FALSE_ALARM_TARGET else " **missed**"
        print(f"| {name} | {r['all']['windows']} | {r['all']['macro_f1']:.4f} ({target}{met}) | "
              f"{r['all']['accuracy']:.4f} | {r['expected_calibration_error']:.4f} | "
              f"{alarms:.3%}{alarm_met} |")
    for key, title in (("module", "By held-out module"), ("site", "By held-out site"),
                       ("layout", "By strings per array (one string: where a shadow and a short "
                                  "look alike, models/README.md)")):
        groups = sorted({g for r in metrics.values() for g in r.get("by", {}).get(key, {})})
        if len(groups) < 2:
            continue
        print(f"\n{title}: macro-F1, false alarms\n")
        print(f"| set | " + " | ".join(groups) + " |")
        print("| --- |" + " ---: |" * len(groups))
        for name, r in metrics.items():
            cells = [f"{m['macro_f1']:.3f}, {m['false_alarm_rate']:.2%}"
                     for m in (r["by"][key].get(g) for g in groups) if m]
            print(f"| {name} | " + " | ".join(cells) + " |")
    print("\nPer class (all windows):\n")
    print("| set | " + " | ".join(f"{c} P / R" for c in CLASSES) + " |")
    print("| --- |" + " ---: |" * len(CLASSES))
    for name, r in metrics.items():
        cells = [f"{r['all']['per_class'][c]['precision']:.3f} / {r['all']['per_class'][c]['recall']:.3f}"
                 for c in CLASSES]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\nConfusion matrices (rows true, columns predicted, order "
          + ", ".join(CLASSES) + "):\n")
    for name, r in metrics.items():
        print(f"{name}:\n\n```")
        for row in r["all"]["confusion"]:
            print(" ".join(f"{v:6d}" for v in row))
        print("```\n")
    print("Calibration: `calibration.svg` (accuracy against the top probability, per set).")


if __name__ == "__main__":
    main()
