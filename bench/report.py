"""bench/run.sh's tables and plot, from what its runs left in the work directory.

    report.py --work target/bench --devices "50 200 1000" --pvflow-bin PATH --out bench/results

For each device count and system: wall and CPU time and peak RSS (bench/measure.py, summed over
a system's jobs; RSS is the larger job's), readings and windows (each system's own counts),
throughput, its ratio to the baseline's, and the stages each system times itself. Writes
results.md, results.csv, stages.csv and throughput.png; the extrapolation uses the largest
device count's throughput per CPU-second.
"""

import argparse
import csv
import datetime as dt
import json
import math
import os
import re
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

# key, label, the jobs bench/run.sh ran for it (its step names).
SYSTEMS = [
    ("baseline", "PySpark + PyWavelets, Parquet (local[2])",
     ["baseline-ingest", "baseline-predict"]),
    ("pvflow", "pvflow run, Parquet (in-process DataFusion)", ["pvflow-ingest", "pvflow-predict"]),
    ("demo", "pvflow demo, Kafka (mock broker + in-process Ballista)", ["demo"]),
]
EXTRAPOLATE = [10_000, 100_000]
HOUR = 3600


def read_json(path):
    return json.loads(Path(path).read_text())


def only(pattern, root):
    """The one file matching pattern under root (bench/run.sh starts each run from scratch)."""
    found = sorted(Path(root).glob(pattern))
    if len(found) != 1:
        raise SystemExit(f"error: expected one {pattern} under {root}, found {len(found)}")
    return found[0]


def stages_and_counts(key, run):
    """The system's own stage timings [(job, stage, wall seconds)] and its ingest counts. The
    baseline's per-stage CPU seconds are left out: pipeline.py reads them from /proc at stage
    boundaries, which misses the Python workers that exited in between (PySpark's daemon lets
    the kernel reap them), so they can even be negative."""
    logs = run / "logs"
    if key == "baseline":
        jobs = {job: read_json(logs / f"baseline-{job}.out") for job in ("ingest", "predict")}
        stages = [(job, s["stage"], s["seconds"])
                  for job, report in jobs.items() for s in report["stages"]]
        return stages, jobs["ingest"]["counts"]
    if key == "pvflow":
        manifests = {job: read_json(logs / f"pvflow-{job}.out") for job in ("ingest", "predict")}
    else:
        # The demo prints a summary; its runs leave their manifests next to silver and gold.
        manifests = {"ingest": read_json(only("silver/_runs/*.json", run / "demo")),
                     "predict": read_json(only("gold/_runs/*.json", run / "demo"))}
    stages = [(job, s["stage"], s["seconds"])
              for job, manifest in manifests.items() for s in manifest["stages"]]
    if key == "demo":
        simulate = re.search(r"^\s*simulate\s+([\d.]+) s", (logs / "demo.out").read_text(), re.M)
        if simulate:
            stages.insert(0, ("demo", "simulate into Kafka", float(simulate[1])))
    return stages, manifests["ingest"]["counts"]


def parity(run, key):
    """compare.py's verdict and largest probability difference for key's gold."""
    text = (run / "logs" / f"compare-{key}.txt").read_text()
    worst = re.search(r"max \|difference\| (\S+),", text)
    return text.strip().splitlines()[-1], worst[1] if worst else "?"


def measure(work, devices):
    rows, stage_rows, checks = [], [], []
    for n in devices:
        run = work / str(n)
        base = None
        for key, label, jobs in SYSTEMS:
            measured = [read_json(run / "logs" / f"{job}.measure.json") for job in jobs]
            stages, counts = stages_and_counts(key, run)
            row = {
                "devices": n, "system": key, "label": label,
                "wall_s": sum(m["wall_seconds"] for m in measured),
                "cpu_s": sum(m["cpu_seconds"] for m in measured),
                "peak_rss_mb": max(m["peak_rss_mb"] for m in measured),
                "readings": counts.get("readings_read", counts.get("messages_read")),
                "windows": counts["windows"],
                # Wall-weighted: the cores other work kept busy on average.
                "other_cores": sum(m["other_cores"] * m["wall_seconds"] for m in measured)
                / sum(m["wall_seconds"] for m in measured),
            }
            row["readings_per_s"] = row["readings"] / row["wall_s"]
            row["windows_per_s"] = row["windows"] / row["wall_s"]
            row["readings_per_cpu_s"] = row["readings"] / row["cpu_s"]
            row["windows_per_cpu_s"] = row["windows"] / row["cpu_s"]
            base = base or row
            row["throughput_vs_baseline"] = row["readings_per_s"] / base["readings_per_s"]
            row["per_core_vs_baseline"] = row["readings_per_cpu_s"] / base["readings_per_cpu_s"]
            rows.append(row)
            stage_rows += [{"devices": n, "system": key, "job": job, "stage": stage,
                            "seconds": seconds}
                           for job, stage, seconds in stages]
            if key != "baseline":
                checks.append((n, label, *parity(run, key)))
    return rows, stage_rows, checks


def machine():
    model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                 if line.startswith("model name"))
    kib = next(int(line.split()[1]) for line in open("/proc/meminfo")
               if line.startswith("MemTotal"))
    return f"{model}, {os.cpu_count()} CPUs, {kib / 2**20:.1f} GiB"


def provenance(pvflow_bin):
    built = dt.datetime.fromtimestamp(Path(pvflow_bin).stat().st_mtime, dt.timezone.utc)
    version = subprocess.run([pvflow_bin, "--version"], capture_output=True, text=True).stdout
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                            text=True).stdout.strip()
    return (f"`{version.strip()}` ({pvflow_bin}, built {built:%Y-%m-%d %H:%M} UTC), "
            f"repository at {commit}")


def number(x, digits=3):
    """x to `digits` significant figures, thousands separated."""
    if x == 0:
        return "0"
    decimals = max(digits - 1 - math.floor(math.log10(abs(x))), 0)
    return f"{x:,.{decimals}f}"


def table(header, rows, text_columns):
    """A Markdown table, the first text_columns left-aligned, the rest (numbers) right-aligned."""
    lines = ["| " + " | ".join(header) + " |",
             "| " + " | ".join("---" if i < text_columns else "---:"
                               for i in range(len(header))) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def extrapolation(rows):
    """Per system, from the largest device count: CPU time and cores for a day of 10k/100k
    devices within an hour, if throughput per CPU-second stays what it was."""
    largest = max(r["devices"] for r in rows)
    out = []
    for r in (r for r in rows if r["devices"] == largest):
        per_device = r["readings"] / r["devices"]
        cells = [r["label"], number(per_device), number(r["readings_per_cpu_s"])]
        for devices in EXTRAPOLATE:
            cpu_hours = per_device * devices / r["readings_per_cpu_s"] / HOUR
            cells += [number(cpu_hours), str(math.ceil(cpu_hours))]
        out.append(cells)
    return largest, out


def write_markdown(path, rows, stage_rows, checks, args):
    devices = sorted({r["devices"] for r in rows})
    largest, extra = extrapolation(rows)
    parts = [
        "# pvflow vs the PySpark + PyWavelets baseline",
        "",
        f"Written by `bench/run.sh` on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC "
        f"(`DEVICES=\"{' '.join(map(str, devices))}\"`). pvflow {provenance(args.pvflow_bin)}. "
        f"Machine: {machine()}. One UTC day (2026-06-01) of a simulated plant, seed 7, "
        "realistic sensors. Wall, CPU (user + system, whole process tree) and peak RSS (summed "
        "over the tree) by `bench/measure.py`; a system's jobs are summed (RSS: the larger job). "
        "Readings and windows are each system's own counts; ratios are against the baseline at "
        "the same device count; pvflow demo's wall and CPU time include simulating the plant "
        "into its Kafka broker. \"Other load\" is the CPU the rest of the machine used "
        "meanwhile, in cores.",
        "",
        table(["devices", "system", "wall s", "CPU s", "peak RSS MB", "readings", "windows",
               "readings/s", "windows/s", "readings per CPU-s", "throughput vs baseline",
               "per core vs baseline", "other load (cores)"],
              [[r["devices"], r["label"], number(r["wall_s"]), number(r["cpu_s"]),
                number(r["peak_rss_mb"]), f"{r['readings']:,}", f"{r['windows']:,}",
                number(r["readings_per_s"]), number(r["windows_per_s"]),
                number(r["readings_per_cpu_s"]), f"{number(r['throughput_vs_baseline'])}x",
                f"{number(r['per_core_vs_baseline'])}x", f"{r['other_cores']:.2f}"]
               for r in rows], 2),
        "",
        "## Stages",
        "",
        "Each system's own timings, wall seconds. "
        "The baseline persists and counts each stage to time it; pvflow's manifests time its "
        "plan's steps (its \"silver\" step reads, windows, transforms and writes in one pass).",
        "",
        table(["devices", "system", "stages"],
              [[n, label, " · ".join(
                  f"{s['job']}: {s['stage']} {number(s['seconds'])}"
                  for s in stage_rows if s["devices"] == n and s["system"] == key)]
               for n in devices for key, label, _ in SYSTEMS], 3),
        "",
        "## Gold parity",
        "",
        "`compare.py` on each pvflow gold against the baseline's: same windows, same fault codes "
        "and model version, probabilities within 1e-4.",
        "",
        table(["devices", "system", "verdict", "max probability difference"], checks, 3),
        "",
        f"## Extrapolation from {largest:,} devices",
        "",
        f"CPU time for one day of a larger plant at the throughput per CPU-second measured at "
        f"{largest:,} devices, and the cores that would finish it within an hour, if it scaled "
        "perfectly (no extra shuffle, coordination or memory limits).",
        "",
        table(["system", "readings per device-day", "readings per CPU-s"]
              + [h for d in EXTRAPOLATE for h in (f"CPU-hours, {d:,} devices",
                                                  f"cores for < 1 h, {d:,} devices")], extra, 1),
        "",
        "![readings/s vs devices](throughput.png)",
        "",
    ]
    path.write_text("\n".join(parts))


def write_csv(path, rows, fields):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        # Three decimals: the measurements are not finer than milliseconds.
        writer.writerows({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}
                         for row in rows)


def plot(path, rows):
    devices = sorted({r["devices"] for r in rows})
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
    for key, label, _ in SYSTEMS:
        mine = sorted((r for r in rows if r["system"] == key), key=lambda r: r["devices"])
        x = [r["devices"] for r in mine]
        axes[0].plot(x, [r["readings_per_s"] for r in mine], "o-", label=label)
        axes[1].plot(x, [r["readings_per_cpu_s"] for r in mine], "o-")
    for ax, ylabel in zip(axes, ["readings/s (wall time)", "readings per CPU-second"]):
        ax.set_xscale("log")
        ax.set_yscale("log")
        # Ticks at the measured device counts, written out.
        ax.set_xticks(devices, [f"{n:,}" for n in devices])
        ax.minorticks_off()
        ax.set_xlabel("devices (one day each)")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    fig.legend(loc="lower center", ncol=len(SYSTEMS), fontsize=8, frameon=False)
    fig.suptitle("pvflow vs the PySpark + PyWavelets baseline: one day, ingest + predict, "
                 f"{os.cpu_count()} cores")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--devices", required=True, help="device counts, space-separated")
    parser.add_argument("--pvflow-bin", required=True)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()

    rows, stage_rows, checks = measure(args.work, [int(n) for n in args.devices.split()])
    write_markdown(args.out / "results.md", rows, stage_rows, checks, args)
    write_csv(args.out / "results.csv", rows,
              ["devices", "system", "wall_s", "cpu_s", "peak_rss_mb", "readings", "windows",
               "readings_per_s", "windows_per_s", "readings_per_cpu_s", "windows_per_cpu_s",
               "throughput_vs_baseline", "per_core_vs_baseline", "other_cores"])
    write_csv(args.out / "stages.csv", stage_rows,
              ["devices", "system", "job", "stage", "seconds"])
    plot(args.out / "throughput.png", rows)


if __name__ == "__main__":
    main()
