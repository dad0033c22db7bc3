"""pvflow's two plans as the seed PySpark pipeline ran them, for benchmarks and parity checks.

    pipeline.py ingest  --date D --readings READINGS.parquet --silver DIR
    pipeline.py predict --date D --silver DIR --gold DIR

ingest mirrors plans/ingest.sql: the day's readings -> 64-reading windows on the epoch-aligned
1280-s grid -> PyWavelets scalograms with pv_scalogram's rules (docs/udfs.md) -> silver Parquet
partitioned by date. predict mirrors plans/predict.sql: silver -> the ONNX model under ONNX
Runtime's Python API in a batched pandas UDF -> gold Parquet partitioned by date.

Spark runs in local mode on as many cores as pvflow gets (local[2] by default). Each job prints
its timings as JSON on stdout: per stage, then wall and CPU time of the whole process tree.
"""

import argparse
import calendar
import datetime as dt
import hashlib
import json
import os
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pywt
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (ArrayType, FloatType, IntegerType, StringType, StructField,
                               StructType)

REPO = Path(__file__).resolve().parents[2]
CHANNELS = ["voltage", "current", "temperature", "irradiance"]
SLOT_SECONDS = 20
WINDOW_LEN = 64
WINDOW_SECONDS = SLOT_SECONDS * WINDOW_LEN
SCALES = np.arange(1, 65)
IMAGE_LEN = len(CHANNELS) * len(SCALES) * WINDOW_LEN
# pv_scalogram rule 5: a channel with fewer valid slots than this (75 %) gives no image.
MIN_VALID_SLOTS = 48
FAULT_LABELS = ["normal", "line_line", "line_ground", "open_circuit", "partial_shading",
                "arc_fault"]
# Images per ONNX Runtime call, as pv_fault_classify.
ORT_BATCH = 128

DIAGNOSIS = StructType([
    StructField("fault_code", IntegerType()),
    StructField("fault_label", StringType()),
    StructField("probabilities", ArrayType(FloatType())),
    StructField("model_version", StringType()),
])


def day_range(day):
    """The readings whose windows start on `day` (runner/src/params.rs day_range): from the first
    window boundary at or after midnight UTC to the first at or after the next midnight."""
    def on_grid(seconds):
        return -(-seconds // WINDOW_SECONDS) * WINDOW_SECONDS

    midnight = calendar.timegm(day.timetuple())
    return tuple(dt.datetime.fromtimestamp(on_grid(s), dt.timezone.utc)
                 for s in (midnight, midnight + 86400))


def fill_window(values, slots):
    """One channel's readings placed on the 64-slot grid with its gaps filled (pv_scalogram rules
    3-5), or None when fewer than 48 slots hold a finite reading."""
    valid = np.isfinite(values)
    # np.unique's return_index is each slot's first occurrence: rule 3 keeps the first valid
    # reading of a slot given twice.
    known, first = np.unique(slots[valid], return_index=True)
    if known.size < MIN_VALID_SLOTS:
        return None
    # np.interp holds the end values outside the known slots, as rule 4 does.
    return np.interp(np.arange(WINDOW_LEN), known, values[valid][first]).astype(np.float32)


def scalogram_udf(mean, std):
    """The pandas UDF turning each window's four series and slots into its 16384-float image
    (channel, scale, time), NULL when a channel has too few valid readings."""
    mean = np.asarray(mean, dtype=np.float32)[:, None]
    # pvflow normalises as (x - mean) * (1 / std) in float32; the same arithmetic here keeps the
    # two pipelines' images apart only by their CWTs' rounding.
    inv_std = np.float32(1.0) / np.asarray(std, dtype=np.float32)[:, None]

    @F.pandas_udf(ArrayType(FloatType()))
    def scalogram(voltage: pd.Series, current: pd.Series, temperature: pd.Series,
                  irradiance: pd.Series, slot: pd.Series) -> pd.Series:
        images = [None] * len(slot)
        imaged, series = [], []
        for row, readings in enumerate(zip(voltage, current, temperature, irradiance, slot)):
            slots = np.asarray(readings[-1], dtype=np.int64)
            window = [fill_window(np.asarray(v, dtype=np.float32), slots) for v in readings[:-1]]
            if all(w is not None for w in window):
                imaged.append(row)
                series.append(np.stack(window))
        if imaged:
            x = (np.stack(series) - mean) * inv_std
            # One call for the whole batch: PyWavelets still convolves each 64-sample series on
            # its own (same numbers as a call per sensor), without the per-call overhead.
            coefs, _ = pywt.cwt(x, SCALES, "morl", axis=-1)
            flat = coefs.transpose(1, 2, 0, 3).reshape(len(imaged), IMAGE_LEN)
            for row, image in zip(imaged, flat):
                images[row] = image
        return pd.Series(images)

    return scalogram


def classify_udf(model_path, model_version):
    """The batched pandas UDF scoring scalograms with the ONNX model (pv_fault_classify)."""

    @F.pandas_udf(DIAGNOSIS)
    def classify(batches: Iterator[pd.Series]) -> Iterator[pd.DataFrame]:
        import onnxruntime as ort

        # One session per task, reused for all its batches. One thread per session: Spark
        # already runs one task per core.
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name
        for scalograms in batches:
            images = np.stack(scalograms.to_numpy()).astype(np.float32, copy=False)
            images = images.reshape(-1, len(CHANNELS), len(SCALES), WINDOW_LEN)
            probabilities = np.concatenate([
                session.run(None, {input_name: images[i:i + ORT_BATCH]})[0]
                for i in range(0, len(images), ORT_BATCH)
            ])
            # argmax takes the first maximum: ties pick the lower fault_code, as pvflow.
            codes = probabilities.argmax(axis=1).astype(np.int32)
            yield pd.DataFrame({
                "fault_code": codes,
                "fault_label": [FAULT_LABELS[c] for c in codes],
                "probabilities": list(probabilities),
                "model_version": model_version,
            })

    return classify


def load_normalization(path):
    """The model's fixed per-channel mean and std, checked as pvflow checks them."""
    spec = json.loads(Path(path).read_text())
    if spec.get("method") != "standard" or spec.get("channels") != CHANNELS:
        sys.exit(f"{path}: expected method 'standard' and channels {CHANNELS}")
    if not all(s > 0 for s in spec["std"]):
        sys.exit(f"{path}: every std must be positive")
    return spec["mean"], spec["std"]


def tree_cpu_seconds():
    """CPU seconds used so far by this process and its descendants: the JVM Spark runs in and
    its Python workers, with the exited descendants they reaped (cutime, cstime)."""
    parent, ticks = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # exited while we looked
            continue
        # Fields after the command name: state, ppid, ..., utime, stime, cutime, cstime (14-17).
        fields = stat[stat.rindex(")") + 2:].split()
        parent[int(entry)] = int(fields[1])
        ticks[int(entry)] = sum(int(f) for f in fields[11:15])
    tree, frontier = set(), [os.getpid()]
    while frontier:
        pid = frontier.pop()
        tree.add(pid)
        frontier.extend(p for p, pp in parent.items() if pp == pid and p not in tree)
    return sum(ticks.get(p, 0) for p in tree) / os.sysconf("SC_CLK_TCK")


class Timings:
    """Wall and CPU time per stage and in total, from the job's start."""

    def __init__(self):
        self.wall0, self.cpu0 = time.perf_counter(), tree_cpu_seconds()
        self.stages = []

    @contextmanager
    def stage(self, name):
        wall, cpu = time.perf_counter(), tree_cpu_seconds()
        yield
        self.stages.append({"stage": name,
                            "seconds": round(time.perf_counter() - wall, 3),
                            "cpu_seconds": round(tree_cpu_seconds() - cpu, 3)})

    def report(self):
        return {"stages": self.stages,
                "wall_seconds": round(time.perf_counter() - self.wall0, 3),
                "cpu_seconds": round(tree_cpu_seconds() - self.cpu0, 3)}


def start_spark(args):
    # Spark's Python workers must run this venv's interpreter (PyWavelets, ONNX Runtime).
    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (SparkSession.builder
             .master(args.master)
             .appName(f"pvflow-baseline-{args.job}")
             .config("spark.driver.memory", args.driver_memory)
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.session.timeZone", "UTC")
             # Stages are persisted only to time them apart; let adaptive execution size their
             # shuffles as it would in the unpersisted job (not Spark's fixed 200 partitions).
             .config("spark.sql.optimizer.canChangeCachedPlanOutputPartitioning", "true")
             # A scalogram row is 64 KiB: Arrow batches of 512 rows (pvflow's batch size)
             # instead of Spark's 10,000 keep a batch at 32 MiB.
             .config("spark.sql.execution.arrow.maxRecordsPerBatch", "512")
             # The same for the Parquet reader's and the stage cache's batches (4,096 and 10,000
             # rows by default, 256 and 640 MiB of scalograms per task): at 1,000 devices they
             # ran predict out of heap, even at 8g.
             .config("spark.sql.parquet.columnarReaderBatchSize", "512")
             .config("spark.sql.inMemoryColumnarStorage.batchSize", "512")
             # window_start as pvflow writes it, Timestamp(ms, UTC), not Spark's INT96.
             .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MILLIS")
             # Re-running a day replaces that date's partition and leaves the others.
             .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
             .getOrCreate())
    spark.sparkContext.setLogLevel("WARN")
    return spark


def ingest(spark, args, run_id, timings):
    start, end = day_range(args.date)
    mean, std = load_normalization(args.normalization)
    with timings.stage("read"):
        readings = (spark.read.parquet(args.readings)
                    .where((F.col("ts") >= start) & (F.col("ts") < end))
                    .persist())
        readings_read = readings.count()
    with timings.stage("cwt"):
        window_ms = WINDOW_SECONDS * 1000
        windows = (readings
                   .selectExpr("*", f"unix_millis(ts) div {window_ms} * {WINDOW_SECONDS} AS window_s")
                   .selectExpr("*", f"(unix_millis(ts) div 1000 - window_s) div {SLOT_SECONDS} AS slot")
                   .groupBy("device_id", "window_s")
                   # Sorted by ts, as the plan's array_agg(... ORDER BY ts): collect_list alone
                   # has no order after a shuffle.
                   .agg(F.count("*").alias("readings"),
                        F.array_sort(F.collect_list(F.struct("ts", "slot", *CHANNELS))).alias("r")))
        silver = (windows
                  .select("device_id",
                          F.timestamp_seconds("window_s").alias("window_start"),
                          F.to_date(F.timestamp_seconds("window_s")).alias("date"),
                          "readings",
                          scalogram_udf(mean, std)(*[F.col("r")[c] for c in CHANNELS + ["slot"]])
                          .alias("scalogram"),
                          F.lit(run_id).alias("run_id"))
                  .persist())
        windows_count = silver.count()
        windows_imaged = silver.where(F.col("scalogram").isNotNull()).count()
    with timings.stage("write_silver"):
        silver.write.mode("overwrite").partitionBy("date").parquet(args.silver)
    return {"readings_read": readings_read, "windows": windows_count,
            "windows_imaged": windows_imaged}


def predict(spark, args, run_id, timings):
    model_version = "sha256:" + hashlib.sha256(Path(args.model).read_bytes()).hexdigest()
    with timings.stage("read_silver"):
        silver = (spark.read.parquet(args.silver)
                  .where((F.col("date") == args.date) & F.col("scalogram").isNotNull())
                  .select("device_id", "window_start", "scalogram")
                  .persist())
        windows = silver.count()
    with timings.stage("cnn"):
        diagnosis = classify_udf(str(Path(args.model).resolve()), model_version)("scalogram")
        gold = (silver
                .select("device_id", "window_start", diagnosis.alias("d"))
                .select("device_id",
                        "window_start",
                        F.to_date("window_start").alias("date"),
                        "d.fault_code", "d.fault_label", "d.probabilities", "d.model_version",
                        F.lit(run_id).alias("run_id"))
                .persist())
        faults = {r["fault_label"]: r["count"] for r in gold.groupBy("fault_label").count().collect()}
    with timings.stage("write_gold"):
        gold.write.mode("overwrite").partitionBy("date").parquet(args.gold)
    return {"windows_scored": windows, **{f"windows_{label}": n for label, n in faults.items()}}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("job", choices=["ingest", "predict"])
    parser.add_argument("--date", required=True, type=dt.date.fromisoformat,
                        help="the UTC day whose windows to process, YYYY-MM-DD")
    parser.add_argument("--readings", help="ingest: the readings Parquet file "
                        "(pvflow simulate --output-parquet)")
    parser.add_argument("--silver", required=True, help="silver directory")
    parser.add_argument("--gold", help="predict: gold directory")
    parser.add_argument("--normalization", default=str(REPO / "models/normalization.json"))
    parser.add_argument("--model", default=str(REPO / "models/pv_fault_lean.onnx"))
    parser.add_argument("--master", default="local[2]", help="Spark master (default local[2], "
                        "the cores pvflow gets)")
    parser.add_argument("--driver-memory", default="4g",
                        help="the local-mode JVM's heap, which also holds the cached stages")
    args = parser.parse_args()
    if args.job == "ingest" and not args.readings:
        parser.error("ingest needs --readings")
    if args.job == "predict" and not args.gold:
        parser.error("predict needs --gold")

    timings = Timings()
    run_id = f"baseline-{args.job}-{args.date}-{uuid.uuid4().hex[:8]}"
    with timings.stage("spark_start"):
        spark = start_spark(args)
    # Each stage is materialised (persist + count) so that it can be timed on its own.
    counts = (ingest if args.job == "ingest" else predict)(spark, args, run_id, timings)
    report = {"job": args.job, "date": str(args.date), "run_id": run_id, "master": args.master,
              **timings.report(), "counts": counts,
              "versions": {"pyspark": spark.version, "numpy": np.__version__,
                           "python": sys.version.split()[0]}}
    spark.stop()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
