"""PyWavelets CWT throughput on the shapes pvflow's criterion bench measures.

Single-threaded (BLAS threads pinned to 1 by bench/cwt.sh). Prints JSON:
{"name": {"per_second": float, "unit": str}, ...}
"""
import json
import sys
import time

import numpy as np
import pywt

SCALES = np.arange(1, 65)


def rate(fn, units_per_call, min_seconds=2.0):
    """Units per second of fn(), best of three runs of at least min_seconds / 3 each."""
    fn()  # warm-up
    best = 0.0
    for _ in range(3):
        calls, start = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds / 3:
                break
        best = max(best, calls * units_per_call / elapsed)
    return best


def series(n, seed=0):
    rng = np.random.default_rng(seed)
    return np.sin(np.arange(n) * 0.37) + 0.1 * rng.standard_normal(n)


def main():
    out = {}
    w64 = series(64)
    out["cwt_window/f64/1"] = {"per_second": rate(lambda: pywt.cwt(w64, SCALES, "morl"), 1), "unit": "windows"}
    w32 = w64.astype(np.float32)
    out["cwt_window/f32/1"] = {"per_second": rate(lambda: pywt.cwt(w32, SCALES, "morl"), 1), "unit": "windows"}
    # PyWavelets' own batching: a (1024, 64) array transformed along the last axis.
    batch = np.stack([series(64, s) for s in range(1024)])
    out["cwt_window/f64/1024"] = {
        "per_second": rate(lambda: pywt.cwt(batch, SCALES, "morl", axis=-1), 1024),
        "unit": "windows",
    }
    day = series(4320)
    out["cwt_device_day/f64"] = {"per_second": rate(lambda: pywt.cwt(day, SCALES, "morl"), 1), "unit": "series"}
    out["cwt_device_day/f64_fft"] = {
        "per_second": rate(lambda: pywt.cwt(day, SCALES, "morl", method="fft"), 1),
        "unit": "series",
    }
    # The machine's single-thread f32 matrix-multiply rate through NumPy's BLAS.
    n = 1024
    a = np.random.default_rng(1).standard_normal((n, n)).astype(np.float32)
    b = np.random.default_rng(2).standard_normal((n, n)).astype(np.float32)
    out["sgemm_roof/numpy_blas/1024"] = {"per_second": rate(lambda: a @ b, n**3), "unit": "multiply-adds"}
    out["_versions"] = {"pywt": pywt.__version__, "numpy": np.__version__, "python": sys.version.split()[0]}
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
