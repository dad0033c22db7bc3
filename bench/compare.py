"""Side-by-side table of pvflow's criterion results and PyWavelets' (bench/out/pywt.json).

Usage: python bench/compare.py target/criterion bench/out/pywt.json
"""
import json
import pathlib
import sys

FLOP_PER_WINDOW = 2 * 64 * 64 * 64  # a 4096x64 matrix times a 64-vector, per channel


def criterion_rates(root):
    """{id: units per second} from criterion's new/benchmark.json + new/estimates.json."""
    rates = {}
    for bench in pathlib.Path(root).glob("**/new/benchmark.json"):
        meta = json.loads(bench.read_text())
        est = json.loads((bench.parent / "estimates.json").read_text())
        elements = (meta.get("throughput") or {}).get("Elements", 1)
        seconds = est["mean"]["point_estimate"] / 1e9
        rates[meta["full_id"]] = elements / seconds
    return rates


def fmt(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:,.2f}"


def main():
    ours = criterion_rates(sys.argv[1])
    pywt = {k: v["per_second"] for k, v in json.loads(pathlib.Path(sys.argv[2]).read_text()).items() if not k.startswith("_")}
    rows = [
        ("64-sample window, f64, one at a time", "cwt_window/f64/1", "cwt_window/f64/1", "windows/s"),
        ("64-sample window, f32, one at a time", "cwt_window/f32/1", "cwt_window/f32/1", "windows/s"),
        ("64-sample windows, f64, batch of 1024", "cwt_window/f64/1024", "cwt_window/f64/1024", "windows/s"),
        ("64-sample windows, f32, batch of 1024", "cwt_window/f64/1024", "cwt_window/f32/1024", "windows/s"),
        ("device-day (4320 samples), f64, conv", "cwt_device_day/f64", "cwt_device_day/f64", "series/s"),
        ("device-day (4320 samples), f64, pywt fft", "cwt_device_day/f64_fft", "cwt_device_day/f64", "series/s"),
        ("device-day (4320 samples), f32", "cwt_device_day/f64", "cwt_device_day/f32", "series/s"),
    ]
    print("| shape (per channel, 64 scales, 1 thread) | PyWavelets | pvflow | pvflow / PyWavelets |")
    print("| --- | ---: | ---: | ---: |")
    for label, base, mine, unit in rows:
        if base in pywt and mine in ours:
            print(f"| {label} | {fmt(pywt[base])} {unit} | {fmt(ours[mine])} {unit} | {ours[mine] / pywt[base]:.0f}x |")
    if "pv_scalogram/f32/1024" in ours and "cwt_window/f32/1" in pywt:
        base = pywt["cwt_window/f32/1"] / 4
        mine = ours["pv_scalogram/f32/1024"]
        print(f"| pv_scalogram: 4x64x64 image per window (4 channels) | {fmt(base)} windows/s | {fmt(mine)} windows/s | {mine / base:.0f}x |")
    print()
    if "cwt_window/f32/1024" in ours:
        gflops = ours["cwt_window/f32/1024"] * FLOP_PER_WINDOW / 1e9
        print(f"- pvflow f32 window transform: {gflops:.1f} GFLOP/s")
    if "sgemm_roof/f32/1024" in ours:
        print(f"- matrixmultiply sgemm 1024^3 (pvflow's kernel): {ours['sgemm_roof/f32/1024'] * 2 / 1e9:.1f} GFLOP/s")
    if "sgemm_roof/numpy_blas/1024" in pywt:
        print(f"- NumPy/OpenBLAS sgemm 1024^3, 1 thread: {pywt['sgemm_roof/numpy_blas/1024'] * 2 / 1e9:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
