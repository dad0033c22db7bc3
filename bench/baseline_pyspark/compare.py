"""Checks that pvflow and the PySpark baseline diagnosed one day the same way.

    compare.py --date D PVFLOW_GOLD BASELINE_GOLD [--silver PVFLOW_SCALOGRAMS BASELINE_SILVER]

Reads each root's date=D partition. Gold: the same (device_id, window_start) windows, the same
fault_code and model_version, probabilities within --tolerance. With --silver, also the same
windows with and without a scalogram, and how far pvflow's scalograms are from PyWavelets' (the
baseline's), per channel relative to the channel's largest coefficient, as pvflow's CWT is
validated; over --scalogram-tolerance is a mismatch. pvflow's silver keeps series, not images:
PVFLOW_SCALOGRAMS is a Parquet file of (device_id, window_start, scalogram) made from it with
pv_scalogram (README.md shows the command). Silver is compared in memory (about 130 KB per
window), so keep it to plants of a few hundred devices.

Prints a report; exits 0 when everything matches, 1 otherwise.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

KEYS = ["device_id", "window_start"]
CHANNELS = ["voltage", "current", "temperature", "irradiance"]
IMAGE_SHAPE = (len(CHANNELS), 64, 64)
EXAMPLES = 10


def read_day(root, date, columns):
    """The date's partition of a dataset written by either pipeline, as a table with the window
    start as epoch milliseconds (Spark and pvflow may store different timestamp units)."""
    partition = Path(root) / f"date={date}"
    if not partition.is_dir():
        sys.exit(f"error: {partition} does not exist")
    return read_windows(partition, columns)


def read_windows(path, columns):
    """A Parquet file or directory of windows, with the window start as epoch milliseconds."""
    # Files starting with _ or . (pvflow's _staging, Spark's .crc) are ignored, as readers do.
    table = pq.read_table(path, columns=KEYS + columns)
    start = table.column("window_start")
    millis = start.cast(pa.timestamp("ms", tz=start.type.tz)).cast(pa.int64())
    return table.set_column(table.schema.get_field_index("window_start"), "window_start", millis)


def join(pvflow, baseline, what, problems):
    """Both pipelines' rows side by side; windows only one of them has are reported."""
    merged = pd.merge(pvflow.to_pandas(), baseline.to_pandas(), on=KEYS, how="outer",
                      suffixes=("_pvflow", "_baseline"), indicator=True)
    print(f"{what}: pvflow {len(pvflow)} windows, baseline {len(baseline)} windows")
    for side, name in (("left_only", "pvflow"), ("right_only", "baseline")):
        only = merged[merged["_merge"] == side]
        print(f"  windows only in {name}: {len(only)}")
        if len(only):
            problems.append(f"{len(only)} {what} windows only in {name}")
            print(indent(only[KEYS].head(EXAMPLES)))
    return merged[merged["_merge"] == "both"].drop(columns="_merge")


def compare_gold(args, problems):
    columns = ["fault_code", "probabilities", "model_version"]
    both = join(read_day(args.pvflow_gold, args.date, columns),
                read_day(args.baseline_gold, args.date, columns), "gold", problems)

    differ = both[both["fault_code_pvflow"] != both["fault_code_baseline"]]
    print(f"  fault_code: {len(both) - len(differ)} of {len(both)} windows agree")
    if len(differ):
        problems.append(f"{len(differ)} windows with another fault_code")
        print(indent(differ[KEYS + ["fault_code_pvflow", "fault_code_baseline"]].head(EXAMPLES)))

    p = np.stack(both["probabilities_pvflow"].to_numpy()).astype(np.float64)
    b = np.stack(both["probabilities_baseline"].to_numpy()).astype(np.float64)
    worst = np.abs(p - b).max(axis=1)
    over = worst > args.tolerance
    print(f"  probabilities: max |difference| {worst.max():.3g}, "
          f"{over.sum()} windows over {args.tolerance:g}")
    if over.any():
        problems.append(f"{over.sum()} windows with probabilities over {args.tolerance:g} apart")
        print(indent(both.loc[over, KEYS].assign(max_difference=worst[over]).head(EXAMPLES)))

    versions = {side: sorted(both[f"model_version_{side}"].unique())
                for side in ("pvflow", "baseline")}
    print(f"  model_version: pvflow {versions['pvflow']}, baseline {versions['baseline']}")
    if versions["pvflow"] != versions["baseline"]:
        problems.append("different model versions")


def compare_silver(args, problems):
    both = join(read_windows(args.silver[0], ["scalogram"]),
                read_day(args.silver[1], args.date, ["scalogram"]), "silver", problems)
    has = {side: both[f"scalogram_{side}"].notna().to_numpy() for side in ("pvflow", "baseline")}
    disagree = has["pvflow"] != has["baseline"]
    print(f"  scalogram present: pvflow {has['pvflow'].sum()}, baseline {has['baseline'].sum()}, "
          f"{disagree.sum()} windows where only one has it")
    if disagree.any():
        problems.append(f"{disagree.sum()} windows with a scalogram in only one pipeline")
        print(indent(both.loc[disagree, KEYS].head(EXAMPLES)))

    imaged = both[has["pvflow"] & has["baseline"]]
    if imaged.empty:
        return
    shape = (len(imaged),) + IMAGE_SHAPE
    p = np.stack(imaged["scalogram_pvflow"].to_numpy()).reshape(shape).astype(np.float64)
    b = np.stack(imaged["scalogram_baseline"].to_numpy()).reshape(shape).astype(np.float64)
    # Error relative to each channel's largest PyWavelets coefficient: how pvflow's CWT is
    # validated (docs/udfs.md), and meaningful for near-zero coefficients too.
    scale = np.abs(b).max(axis=(2, 3))
    relative = np.abs(p - b).max(axis=(2, 3)) / np.where(scale > 0, scale, 1.0)
    print(f"  scalogram difference / channel max |coefficient|: max {relative.max():.3g}, "
          f"median {np.median(relative):.3g}")
    for c, name in enumerate(CHANNELS):
        print(f"    {name}: max {relative[:, c].max():.3g}")
    worst = relative.max(axis=1)
    over = worst > args.scalogram_tolerance
    if over.any():
        problems.append(f"{over.sum()} scalograms over {args.scalogram_tolerance:g} apart")
        print(indent(imaged.loc[over, KEYS].assign(relative_difference=worst[over])
                     .head(EXAMPLES)))


def indent(frame):
    return "\n".join("    " + line for line in frame.to_string(index=False).splitlines())


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pvflow_gold")
    parser.add_argument("baseline_gold")
    parser.add_argument("--date", required=True, help="YYYY-MM-DD")
    parser.add_argument("--tolerance", type=float, default=1e-4,
                        help="largest allowed |difference| of a probability (default 1e-4)")
    parser.add_argument("--silver", nargs=2, metavar=("PVFLOW_SCALOGRAMS", "BASELINE_SILVER"),
                        help="also compare pvflow's scalograms of its silver (a Parquet file) "
                             "with the baseline's silver")
    parser.add_argument("--scalogram-tolerance", type=float, default=1e-4,
                        help="largest allowed scalogram difference relative to the channel's "
                             "largest coefficient (default 1e-4)")
    args = parser.parse_args()

    problems = []
    compare_gold(args, problems)
    if args.silver:
        compare_silver(args, problems)
    if problems:
        print("MISMATCH: " + "; ".join(problems))
        sys.exit(1)
    print("MATCH")


if __name__ == "__main__":
    main()
