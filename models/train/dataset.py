"""Labelled scalograms for training and evaluation, made by pvflow itself.

Every image comes from the path pvflow scores: `pvflow simulate --output-parquet` writes a
plant's readings and `--truth` its window labels; `pvflow sql` windows the readings into
silver's four 64-slot series (`pv_window_series`, as plans/ingest.sql does) and `pv_scalogram`
over those series (with `PVFLOW_MODEL_NORMALIZATION` pointing at the normalisation fitted on the
training readings) makes the 4x64x64 images, as `pv_fault_classify` does in plans/predict.sql.
No Python re-implementation of the CWT or of the windowing exists here, so there is no
train/serve skew.

Usage: dataset.py --pvflow BIN --work DIR --out DIR --normalization FILE [--variety V] [--scale S]
Writes DIR/<set>.parquet (plant, device_id, window_start, fault_code, readings,
peak_irradiance, scalogram) for every set, and the normalisation FILE. The variety: `default` (the shipped
standard model's plants below: the simulator's 5x3 array at Tabernas, standard normalisation),
`general` (variety.py: many modules, layouts and sites), or `plant:PATH` (the variety of the
plant PATH describes); a described variety's series are scaled by each array's own nameplate,
`--scale operating_point` (the default: its expected maximum-power point at each reading's
temperature and light) or `--scale nameplate` (its STC values), docs/udfs.md.
"""

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import variety as varieties

# Every device-day gets a fault (19 % per class); faults last 30 min to 4 h of daylight, so
# about 1 window in 45 of a run is of each fault class and the rest are normal.
FAULT_MIX = "line_line=0.19,line_ground=0.19,open_circuit=0.19,partial_shading=0.19,arc_fault=0.19"
# Training keeps this many daylight normal windows per fault window of the run (normal days
# vary most: clouds, dawn, dusk), and a few dark ones (night, or an inverter asleep below
# DAYLIGHT_W_M2), so that the model also calls those normal.
TRAIN_DAYLIGHT_NORMALS_PER_FAULT_WINDOW = 0.8
TRAIN_DARK_NORMALS_PER_FAULT_WINDOW = 0.05
DAYLIGHT_W_M2 = 20.0
WINDOW_MS = 1_280_000
SELECTION_SEED = 20261123


@dataclass(frozen=True)
class Run:
    seed: int
    start: str
    days: int
    devices: int
    sensors: str  # "clean" or "realistic"
    clear_day_probability: float
    clouds_per_hour: float
    missing_rate: float | None = None
    noise: float | None = None
    # A plant description (variety.py) instead of `devices` arrays of the default design.
    plant: Path | None = None

    @property
    def name(self):
        missing = "" if self.missing_rate is None else f"-miss{self.missing_rate}"
        noise = "" if self.noise is None else f"-noise{self.noise}"
        plant = "" if self.plant is None else f"-{self.plant.stem}"
        return (f"s{self.seed}-{self.start}-{self.sensors}{missing}{noise}"
                f"-clear{self.clear_day_probability}-clouds{self.clouds_per_hour}{plant}")


# Training: 32 seeds over the year, half clean and half with sensor noise and lost readings, in
# five kinds of weather (none of them the held-out sets' weather).
TRAIN = [
    Run(101, "2026-01-15", 2, 100, "clean", 0.3, 2.0),
    Run(102, "2026-03-20", 2, 100, "realistic", 0.3, 2.0),
    Run(103, "2026-04-25", 2, 100, "clean", 0.8, 1.0),
    Run(104, "2026-06-21", 2, 100, "realistic", 0.1, 4.0, missing_rate=0.02),
    Run(105, "2026-08-05", 2, 100, "clean", 0.1, 4.0),
    Run(106, "2026-09-10", 2, 100, "realistic", 0.8, 1.0),
    Run(107, "2026-10-12", 2, 100, "realistic", 0.3, 2.0),
    Run(108, "2026-12-01", 2, 100, "clean", 0.3, 2.0),
    Run(109, "2026-02-05", 2, 100, "realistic", 0.0, 6.0),
    Run(110, "2026-03-05", 2, 100, "clean", 1.0, 0.0),
    Run(111, "2026-05-25", 2, 100, "realistic", 0.3, 2.0, missing_rate=0.02),
    Run(112, "2026-07-01", 2, 100, "clean", 0.0, 6.0),
    Run(113, "2026-08-25", 2, 100, "realistic", 1.0, 0.0),
    Run(114, "2026-09-28", 2, 100, "clean", 0.8, 1.0),
    Run(115, "2026-11-01", 2, 100, "realistic", 0.1, 4.0),
    Run(116, "2026-12-20", 2, 100, "clean", 0.3, 2.0),
    # Added for the second lean model (line_ground was its weakest class): 16 more plants, same
    # weather kinds, other dates.
    Run(117, "2026-01-28", 2, 100, "realistic", 0.8, 1.0),
    Run(118, "2026-02-14", 2, 100, "clean", 0.1, 4.0),
    Run(119, "2026-03-12", 2, 100, "realistic", 1.0, 0.0),
    Run(120, "2026-04-08", 2, 100, "clean", 0.0, 6.0),
    Run(121, "2026-04-18", 2, 100, "realistic", 0.3, 2.0, missing_rate=0.02),
    Run(122, "2026-05-10", 2, 100, "clean", 0.8, 1.0),
    Run(123, "2026-06-05", 2, 100, "realistic", 0.1, 4.0),
    Run(124, "2026-06-30", 2, 100, "clean", 0.3, 2.0),
    Run(125, "2026-07-22", 2, 100, "realistic", 0.0, 6.0),
    Run(126, "2026-08-15", 2, 100, "clean", 1.0, 0.0),
    Run(127, "2026-09-02", 2, 100, "realistic", 0.3, 2.0),
    Run(128, "2026-10-02", 2, 100, "clean", 0.1, 4.0),
    Run(129, "2026-10-25", 2, 100, "realistic", 0.8, 1.0, missing_rate=0.02),
    Run(130, "2026-11-18", 2, 100, "clean", 0.0, 6.0),
    Run(131, "2026-12-10", 2, 100, "realistic", 1.0, 0.0),
    Run(132, "2026-12-28", 2, 100, "clean", 0.3, 2.0),
]
# The normalisation is fitted on the first 16 plants only: both shipped models use it, and the
# LeNet was trained before plants 117-132 existed.
NORMALIZATION_PLANTS = TRAIN[:16]

# Held out: other seeds, other dates, weather settings no training run used, each plant scored
# twice: with clean sensors, and with the realistic preset (0.5 % noise, 0.5 % lost and 0.1 %
# duplicated readings). Every window is kept (the natural class balance of a plant where every
# device-day has a fault).
HELDOUT_RUNS = [
    dict(seed=901, start="2026-02-20", days=1, devices=100, clear_day_probability=0.2, clouds_per_hour=3.0),
    dict(seed=902, start="2026-07-15", days=1, devices=100, clear_day_probability=0.5, clouds_per_hour=1.5),
    dict(seed=903, start="2026-11-10", days=1, devices=100, clear_day_probability=0.2, clouds_per_hour=3.0),
]
SETS = {
    "train": TRAIN,
    "heldout_clean": [Run(sensors="clean", **r) for r in HELDOUT_RUNS],
    "heldout_noisy": [Run(sensors="realistic", **r) for r in HELDOUT_RUNS],
}

SCALOGRAM_SQL = """
CREATE EXTERNAL TABLE readings STORED AS PARQUET LOCATION '{readings}';
CREATE EXTERNAL TABLE chosen STORED AS PARQUET LOCATION '{chosen}';
COPY (
  SELECT '{plant}' AS plant, w.device_id, window_start, fault_code, readings, peak_irradiance,
         pv_scalogram(voltage_series, current_series, temperature_series, irradiance_series{nameplate}) AS scalogram
  FROM (
    SELECT device_id, window_start, fault_code, count(*) AS readings,
           max(irradiance) AS peak_irradiance,
           pv_window_series(slot, ts, voltage) AS voltage_series,
           pv_window_series(slot, ts, current) AS current_series,
           pv_window_series(slot, ts, temperature) AS temperature_series,
           pv_window_series(slot, ts, irradiance) AS irradiance_series
    FROM (SELECT r.*, c.fault_code,
                 date_bin(INTERVAL '1280 seconds', r.ts, TIMESTAMP '1970-01-01T00:00:00Z') AS window_start,
                 (to_unixtime(r.ts) - to_unixtime(date_bin(INTERVAL '1280 seconds', r.ts,
                                                           TIMESTAMP '1970-01-01T00:00:00Z'))) / 20 AS slot
          FROM readings r
          JOIN chosen c ON r.device_id = c.device_id
                       AND date_bin(INTERVAL '1280 seconds', r.ts, TIMESTAMP '1970-01-01T00:00:00Z') = c.window_start)
    GROUP BY device_id, window_start, fault_code) w {join}
  ORDER BY w.device_id, window_start
) TO '{out}' STORED AS PARQUET;
"""
# A described plant's arrays are scaled by their own nameplates (the `devices` table).
NAMEPLATE_ARGS = ", d.v_mp, d.i_mp, d.gamma_pdc_per_c"
NAMEPLATE_JOIN = "JOIN devices d ON w.device_id = d.device_id"

# What each reading's voltage and current are divided by, per scale: udfs/src/normalization.rs
# spells the same (operating point: Vmp at the reading's temperature, Imp at its light, no
# lower than 100 W/m2; the temperature factor no lower than 0.5).
SCALE_DIVISORS = {
    "nameplate": ("d.v_mp", "d.i_mp"),
    "operating_point": ("(d.v_mp * greatest(1.0 + d.gamma_pdc_per_c * (r.temperature - 25.0), 0.5))",
                        "(d.i_mp * greatest(r.irradiance, 100.0) / 1000.0)"),
}

# Per plant, the sums that make a nameplate normalisation's mean and std: voltage and current
# over their divisors, temperature, irradiance / 1000.
NAMEPLATE_SUMS_SQL = """
CREATE EXTERNAL TABLE readings STORED AS PARQUET LOCATION '{readings}';
SELECT count(*) AS n, sum(v) AS s0, sum(v * v) AS q0, sum(i) AS s1, sum(i * i) AS q1,
       sum(t) AS s2, sum(t * t) AS q2, sum(g) AS s3, sum(g * g) AS q3
FROM (SELECT r.voltage / {v_div} AS v, r.current / {i_div} AS i, r.temperature AS t,
             r.irradiance / 1000.0 AS g
      FROM readings r JOIN devices d ON r.device_id = d.device_id);
"""

STATS_SQL = """
CREATE EXTERNAL TABLE readings STORED AS PARQUET LOCATION '{readings}';
SELECT avg(voltage) AS mv, stddev_pop(voltage) AS sv, avg(current) AS mc, stddev_pop(current) AS sc,
       avg(temperature) AS mt, stddev_pop(temperature) AS st,
       avg(irradiance) AS mi, stddev_pop(irradiance) AS si
FROM readings;
"""


def pvflow(binary, args, env=None):
    result = subprocess.run([binary, *args], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"pvflow {' '.join(args[:2])} failed ({result.returncode}):\n{result.stderr}")
    return result.stdout


def simulate(binary, run, work):
    readings = work / "readings" / f"{run.name}.parquet"
    truth = work / "truth" / f"{run.name}.parquet"
    if readings.exists() and truth.exists():
        return readings, truth
    readings.parent.mkdir(parents=True, exist_ok=True)
    truth.parent.mkdir(parents=True, exist_ok=True)
    args = ["simulate", "--output-parquet", str(readings), "--truth", str(truth),
            "--seed", str(run.seed), "--start", run.start, "--days", str(run.days),
            "--sensors", run.sensors, "--class-mix", FAULT_MIX,
            "--clear-day-probability", str(run.clear_day_probability),
            "--clouds-per-hour", str(run.clouds_per_hour)]
    args += ["--plant", str(run.plant)] if run.plant else ["--devices", str(run.devices)]
    if run.missing_rate is not None:
        args += ["--missing-rate", str(run.missing_rate)]
    if run.noise is not None:
        args += ["--noise", str(run.noise)]
    pvflow(binary, args)
    return readings, truth


def fit_normalization(binary, readings_files, work, path):
    """Per-channel mean and population std of every training reading, night included."""
    train_dir = work / "train_readings"
    train_dir.mkdir(exist_ok=True)
    for f in readings_files:
        link = train_dir / f.name
        if not link.exists():
            link.symlink_to(f.resolve())
    out = pvflow(binary, ["sql", "--format", "json", STATS_SQL.format(readings=f"{train_dir}/")])
    row = json.loads(out.strip().splitlines()[-1])
    doc = {
        "method": "standard",
        "channels": ["voltage", "current", "temperature", "irradiance"],
        "mean": [round(row[k], 4) for k in ("mv", "mc", "mt", "mi")],
        "std": [round(row[k], 4) for k in ("sv", "sc", "st", "si")],
    }
    path.write_text(json.dumps(doc) + "\n")
    return doc


def fit_nameplate_normalization(binary, runs, work, path, scale):
    """Per-channel mean and population std of every training reading, each array's voltage
    and current over its own nameplate (`scale`: at STC, or at the reading's operating point)
    and irradiance over 1000 W/m2, night included."""
    v_div, i_div = SCALE_DIVISORS[scale]
    totals = np.zeros(9)
    for run in runs:
        readings, _ = simulate(binary, run, work)
        env = dict(os.environ, PVFLOW_PLANT_DESCRIPTION=str(run.plant))
        env.pop("PVFLOW_CONFIG", None)
        out = pvflow(binary, ["sql", "--format", "json", NAMEPLATE_SUMS_SQL.format(readings=readings, v_div=v_div, i_div=i_div)], env=env)
        row = json.loads(out.strip().splitlines()[-1])
        totals += np.array([row[k] for k in ("n", "s0", "q0", "s1", "q1", "s2", "q2", "s3", "q3")])
    n = totals[0]
    mean = totals[1::2] / n
    std = np.sqrt(np.maximum(totals[2::2] / n - mean ** 2, 0.0))
    doc = {
        "method": scale,
        "channels": ["voltage", "current", "temperature", "irradiance"],
        "mean": [round(float(m), 6) for m in mean],
        "std": [round(float(s), 6) for s in std],
    }
    path.write_text(json.dumps(doc) + "\n")
    return doc


def window_peaks(readings):
    """(device_id, window_start ms) -> peak irradiance of the window's readings."""
    table = pq.read_table(readings, columns=["device_id", "ts", "irradiance"])
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    table = table.append_column("window_ms", pa.array(ts - ts % WINDOW_MS))
    peaks = table.group_by(["device_id", "window_ms"]).aggregate([("irradiance", "max")])
    return dict(zip(zip(peaks.column("device_id").to_pylist(), peaks.column("window_ms").to_pylist()),
                    peaks.column("irradiance_max").to_pylist()))


def choose_windows(readings, truth, keep_all, rng):
    """The windows to make images of: all of them, or every fault window plus random daylight
    and dark normal ones."""
    table = pq.read_table(truth, columns=["device_id", "window_start", "fault_code"])
    if keep_all:
        return table
    peaks = window_peaks(readings)
    starts = table.column("window_start").cast(pa.int64()).to_numpy()
    bright = np.array([peaks.get((d, w), 0.0) >= DAYLIGHT_W_M2
                       for d, w in zip(table.column("device_id").to_pylist(), starts)])
    codes = table.column("fault_code").to_numpy()
    faults = np.flatnonzero(codes != 0)
    picked = [faults]
    for share, pool in ((TRAIN_DAYLIGHT_NORMALS_PER_FAULT_WINDOW, np.flatnonzero((codes == 0) & bright)),
                        (TRAIN_DARK_NORMALS_PER_FAULT_WINDOW, np.flatnonzero((codes == 0) & ~bright))):
        take = min(len(pool), int(round(share * len(faults))))
        picked.append(rng.choice(pool, take, replace=False))
    return table.take(pa.array(np.sort(np.concatenate(picked))))


def build_set(binary, name, runs, work, out_dir, normalization, rng):
    parts = []
    for run in runs:
        readings, truth = simulate(binary, run, work)
        part = work / "scalograms" / name / f"{run.name}.parquet"
        if not part.exists():
            part.parent.mkdir(parents=True, exist_ok=True)
            chosen = work / "chosen" / name / f"{run.name}.parquet"
            chosen.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(choose_windows(readings, truth, name != "train", rng), chosen)
            env = dict(os.environ, PVFLOW_MODEL_NORMALIZATION=str(normalization))
            env.pop("PVFLOW_CONFIG", None)
            described = run.plant is not None
            if described:
                env["PVFLOW_PLANT_DESCRIPTION"] = str(run.plant)
            sql = SCALOGRAM_SQL.format(plant=run.plant.stem if described else run.name,
                                       readings=readings, chosen=chosen, out=part,
                                       nameplate=NAMEPLATE_ARGS if described else "",
                                       join=NAMEPLATE_JOIN if described else "")
            pvflow(binary, ["sql", sql], env=env)
        parts.append(part)
        print(f"  {name}: {run.name}", flush=True)
    table = pa.concat_tables(pq.read_table(p) for p in parts)
    out = out_dir / f"{name}.parquet"
    pq.write_table(table, out)
    counts = np.bincount(table.column("fault_code").to_numpy(), minlength=6)
    print(f"{name}: {table.num_rows} windows, per class {counts.tolist()}, "
          f"{table.column('scalogram').null_count} without a scalogram", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pvflow", required=True, help="the pvflow binary")
    parser.add_argument("--work", type=Path, required=True, help="scratch directory (readings, truth)")
    parser.add_argument("--out", type=Path, required=True, help="where the <set>.parquet files go")
    parser.add_argument("--normalization", type=Path, required=True, help="normalization.json to write")
    parser.add_argument("--variety", default="default",
                        help="default, general, or plant:PATH (see the module's docstring)")
    parser.add_argument("--scale", choices=sorted(SCALE_DIVISORS), default="operating_point",
                        help="how a described variety's series are scaled (default operating_point)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.variety == "default":
        readings = [simulate(args.pvflow, run, args.work)[0] for run in NORMALIZATION_PLANTS]
        doc = fit_normalization(args.pvflow, readings, args.work, args.normalization)
        sets = SETS
    else:
        sets, names = described_sets(args.variety, args.work)
        (args.out / "variety.json").write_text(json.dumps(names, indent=1) + "\n")
        doc = fit_nameplate_normalization(args.pvflow, sets["train"], args.work, args.normalization,
                                          args.scale)
    print(f"normalisation: {doc['method']} mean {doc['mean']} std {doc['std']} -> {args.normalization}",
          flush=True)
    rng = np.random.default_rng(SELECTION_SEED)
    for name, runs in sets.items():
        build_set(args.pvflow, name, runs, args.work, args.out, args.normalization.resolve(), rng)


def described_sets(name, work):
    """The sets of a variety of described plants, their plant.toml files written under work."""
    if name == "general":
        chosen = varieties.general()
    elif name.startswith("plant:"):
        chosen = varieties.of_plant(name.removeprefix("plant:"))
    else:
        sys.exit(f"--variety {name!r}: use default, general or plant:PATH")
    plants = work / "plants"

    def runs(entries, days):
        out = []
        for plant, start, (sensors, noise, missing), (clear, clouds), seed in entries:
            out.append(Run(seed, start, days, 0, sensors, clear, clouds, missing_rate=missing,
                           noise=noise, plant=plant.write(plants).resolve()))
        return out

    sets = {"train": runs(chosen.train, 2)}
    sets.update({k: runs(v, 1) for k, v in chosen.heldout.items()})
    # What each held-out plant is, for evaluate.py's scores by module, site and layout.
    held = {plant.name: {"site": plant.site[0],
                         "module": " + ".join(sorted({a.module for a in plant.arrays})),
                         "strings": {a.name: a.strings for a in plant.arrays}}
            for entries in chosen.heldout.values() for plant, *_ in entries}
    return sets, dict(chosen.names, plants=held)


if __name__ == "__main__":
    main()
