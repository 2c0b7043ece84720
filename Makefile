# The two commands of the README (`make run`, `make test`), plus the
# benchmark and the model training pipeline.
.PHONY: run test bench load onnxruntime models models-smoke ui-vendor ui-test

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
	$(MAKE) ui-test

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

# Load test: mixed ingest/search/board traffic for 60 s, then sustained
# overload against a small queue limit, on loopback (needs ../shared/data).
load: onnxruntime
	cargo build --release --locked
	cargo bench --locked --bench load

# ---- Web UI (dashboards/web, tests/ui) ----
# The UI is plain ES modules served by the service; the only third-party
# code is Apache ECharts, pinned in dashboards/package.json + package-lock.json
# and committed under dashboards/web/vendor/ so that neither `make run` nor
# the tests need npm for the UI. Re-vendor (after changing the pinned
# version) with `make ui-vendor`. echarts.min.js bundles ZRender
# (BSD-3-Clause), so its licence is copied along with ECharts' own.
UI_VENDOR_DIR := dashboards/web/vendor/echarts
CARGO_TARGET_DIR ?= target
XINSHENG_BIN ?= $(CARGO_TARGET_DIR)/release/xinsheng

ui-vendor:
	cd dashboards && npm ci --ignore-scripts --no-audit --no-fund
	mkdir -p $(UI_VENDOR_DIR)
	cp dashboards/node_modules/echarts/dist/echarts.min.js $(UI_VENDOR_DIR)/echarts.min.js
	cp dashboards/node_modules/echarts/LICENSE $(UI_VENDOR_DIR)/LICENSE
	cp dashboards/node_modules/echarts/NOTICE $(UI_VENDOR_DIR)/NOTICE
	cp dashboards/node_modules/zrender/LICENSE $(UI_VENDOR_DIR)/LICENSE-zrender
	node -e 'const p=require("./dashboards/node_modules/echarts/package.json");process.stdout.write(p.name+" "+p.version+"\n")' > $(UI_VENDOR_DIR)/VERSION

# Browser tests: headless Debian chromium (/usr/bin/chromium, or $$CHROMIUM)
# driven by playwright-core against the release binary started on loopback
# with the demo data (the build is a no-op when the binary is up to date).
# `.ci/run` installs chromium and CJK fonts.
ui-test: onnxruntime
	cargo build --release --locked
	test -d tests/ui/node_modules || (cd tests/ui && npm ci --no-audit --no-fund)
	cd tests/ui && XINSHENG_BIN=$(abspath $(XINSHENG_BIN)) node --test
