# The two commands of README.md. Each builds what it needs on first use. Both use cargo's dev
# profile (dependencies optimised, see Cargo.toml), so DataFusion and Ballista compile once for
# both. Builds select the whole workspace: `-p` picks other dependency features, and DataFusion
# would compile again.
.PHONY: demo test lint bench bench-kafka

# The main job: a simulated plant's day -> in-process Kafka -> ingest -> predict -> gold, with a
# summary. ONNX Runtime's library is installed from PyPI into ~/.cache/pvflow on first use.
demo:
	cargo build --workspace --bins
	ort="$$(scripts/onnxruntime.sh)" && ORT_DYLIB_PATH="$$ort" ./target/debug/pvflow demo

# Every check and test of the workspace (the exact command CI runs): formatting, clippy, the
# deployment files, the tests, the doctests (nextest skips them) and the API docs. The tests'
# Kafka broker, tansu (about 21 minutes the first time), and S3 server, s3s-fs (about 3
# minutes), are built once into ~/.cache/pvflow, and ONNX Runtime's library is installed there
# from PyPI.
test: lint
	@command -v cargo-nextest >/dev/null || cargo install cargo-nextest --locked
	scripts/validate-deploy.sh
	scripts/validate-orchestration.sh
	scripts/validate-monitoring.sh
	tansu="$$(scripts/tansu.sh)" && s3s="$$(scripts/s3s-fs.sh)" && ort="$$(scripts/onnxruntime.sh)" && \
		chromium="$$(scripts/chromium.sh)" && prometheus="$$(scripts/prometheus.sh)" && \
		PVFLOW_TANSU="$$tansu" PVFLOW_S3S_FS="$$s3s" ORT_DYLIB_PATH="$$ort" PVFLOW_CHROMIUM="$$chromium" \
		PVFLOW_PROMETHEUS="$$prometheus" \
		cargo nextest run --workspace --no-fail-fast
	cargo test --workspace --doc
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

# The checks that need no test servers: formatting and clippy with warnings denied.
lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

# CWT next to PyWavelets (docs/benchmarks.md).
bench:
	bench/cwt.sh

# Kafka decode, produce and SQL-scan throughput against librdkafka's mock broker
# (docs/benchmarks.md); PVFLOW_BENCH_BROKER=tansu measures against a tansu process instead.
bench-kafka:
	tansu="$$(scripts/tansu.sh)" && PVFLOW_TANSU="$$tansu" cargo bench --workspace --bench kafka_scan
