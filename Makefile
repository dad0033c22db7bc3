# The two commands of README.md. Each builds what it needs on first use.
.PHONY: demo test bench

# The main job: pvflow over an example plant (synthetic readings -> Parquet -> scalograms).
demo:
	cargo build --release -p pvflow-cli
	./target/release/pvflow sql -f examples/scalograms.sql

# Every test of the workspace (the exact command CI runs).
test:
	@command -v cargo-nextest >/dev/null || cargo install cargo-nextest --locked
	cargo nextest run --workspace --no-fail-fast

# CWT next to PyWavelets (docs/benchmarks.md).
bench:
	bench/cwt.sh
