# The two commands of the README (`make run`, `make test`), plus the
# benchmark and the model training pipeline.
.PHONY: run test bench onnxruntime models models-smoke

# ONNX Runtime comes from the onnxruntime wheel on PyPI; `ort` loads it at start.
ONNXRUNTIME_VERSION := 1.32.0
ONNXRUNTIME_LIB := .onnxruntime/libonnxruntime.so
CORPUS ?= ../shared/data/reviews_train.jsonl
TRAINING_VENV := models/.venv

# Start the service on ./data with the demo data set, at http://127.0.0.1:8080
run: onnxruntime
	cargo run --release --locked -- serve --demo

# The whole test suite: unit, property and integration tests (real HTTP on
# loopback), the shipped models on fixed sentences, the training smoke test.
test: onnxruntime $(TRAINING_VENV)/.installed
	cargo test --locked
	$(TRAINING_VENV)/bin/python -m unittest discover -s models/training -p 'test_*.py'

onnxruntime:
	python3 models/fetch_onnxruntime.py $(ONNXRUNTIME_VERSION) .onnxruntime

$(TRAINING_VENV)/.installed: models/training/requirements.txt
	python3 -m venv $(TRAINING_VENV)
	$(TRAINING_VENV)/bin/pip install --quiet -r models/training/requirements.txt
	touch $@

# Regenerate every shipped model and its metrics from the corpus (≈ 2 min on 2 cores).
models: $(TRAINING_VENV)/.installed
	cargo build --release --locked
	$(TRAINING_VENV)/bin/python models/training/train.py --corpus $(CORPUS) --xinsheng target/release/xinsheng --out models

# End-to-end ingest, search, board and classify figures (needs ../shared/data).
bench: onnxruntime
	cargo build --release --locked
	cargo bench --locked --bench e2e
