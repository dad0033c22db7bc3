#!/usr/bin/env bash
# pvflow's CWT next to PyWavelets, same machine, same shapes, one thread each.
# Usage: bench/cwt.sh   (installs PyWavelets into .venv on first use; ~5 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p bench/out
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/pip install -q -r bench/requirements.txt
echo "== PyWavelets" >&2
.venv/bin/python bench/pywt_cwt.py > bench/out/pywt.json
echo "== pvflow (criterion)" >&2
cargo bench -p pvflow-udfs --bench cwt -- --warm-up-time 1 --measurement-time 3 >&2
echo >&2
.venv/bin/python bench/compare.py target/criterion bench/out/pywt.json | tee bench/out/cwt.md
