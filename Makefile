# Two commands on a fresh machine: `make run` serves the demo models, `make test` passes the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# The folder `make run` serves: `make run MODEL_REPOSITORY=/path` or the environment variable of that name.
MODEL_REPOSITORY ?= models
# models/ holds three demos, and POST /predict answers with digits; another folder gets the service's own default (its
# only model) unless DEFAULT_MODEL is given.
ifneq ($(filter models models/ ./models ./models/,$(MODEL_REPOSITORY)),)
DEFAULT_MODEL ?= digits
endif

.PHONY: run test test-fast walkthrough lint demo-model bench bench-quick soak clean browser prometheus curl prometheusrule \
	container-test docker-build grpc-code fresh-check scale-test docs docs-serve docs-reference

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Serving dependencies only (no TensorFlow).
$(VENV)/.serve-installed: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e .
	touch $@

# Everything: serving, export (TensorFlow, tf2onnx) and the test tools.
$(VENV)/.dev-installed: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e ".[export,dev]"
	touch $@ $(VENV)/.serve-installed

run: $(VENV)/.serve-installed
	MODEL_REPOSITORY='$(MODEL_REPOSITORY)' DEFAULT_MODEL='$(DEFAULT_MODEL)' HOST=$(HOST) PORT=$(PORT) $(PY) -m service

# The docs pages that train and export with TensorFlow ("From your model to production", "A text model, end to
# end"), run as written in a temporary folder by the docs' example collector; `make test` leaves them to this target.
walkthrough: $(VENV)/.dev-installed curl
	$(PY) -m pytest -m walkthrough tests/integration/docs/test_doc_examples.py

# The docs site into site/: broken links and anchors fail the build. `make docs-serve` previews it on 127.0.0.1:8008.
docs: $(VENV)/.dev-installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

docs-serve: $(VENV)/.dev-installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve --strict --dev-addr 127.0.0.1:8008

# The pages generated from the code (configuration from Settings, the OpenAPI reference); a test fails when they drift.
docs-reference: $(VENV)/.dev-installed
	$(PY) docs/gen_reference.py

# ruff, and the import contracts of .importlinter (the layers of service/ and model_export/).
lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

# The suite on TEST_WORKERS processes (pytest-xdist): most of its time is spent waiting on servers and subprocesses,
# so more workers than cores pay. loadscope keeps a module's tests, and the fixtures they share, on one worker.
TEST_WORKERS ?= 4
PYTEST := $(PY) -m pytest -n $(TEST_WORKERS) --dist loadscope --durations=25
test: lint browser prometheus curl
	$(PYTEST) $(PYTEST_ARGS)

# Everything but the tests marked slow (keras.applications backbones through the exporter).
test-fast: lint browser prometheus curl
	$(PYTEST) -m "not slow and not container and not walkthrough" $(PYTEST_ARGS)

# Docker: an engine and the offline python:3.11-slim stand-in come from ../shared/docker (CI layout);
# set DOCKER_TOOLS to use other copies.
DOCKER_TOOLS ?= $(firstword $(wildcard ../shared/docker /work/shared/docker))

docker-build:
	docker build --network host --force-rm --target serve -t sigmoid-serve .
	docker build --network host --force-rm --target exporter -t sigmoid-serve-exporter .

container-test: $(VENV)/.dev-installed
	@test -n "$(DOCKER_TOOLS)" || { echo "no ../shared/docker: set DOCKER_TOOLS=dir with ensure-docker.sh"; exit 1; }
	bash $(DOCKER_TOOLS)/ensure-docker.sh
	bash $(DOCKER_TOOLS)/make-base-image.sh
	$(PY) -m pytest -m container tests/system/container tests/system

# This commit on a bare python:3.11-slim container (host network): `make run` until ready, then `make test`.
fresh-check:
	@test -n "$(DOCKER_TOOLS)" || { echo "no ../shared/docker: set DOCKER_TOOLS=dir with ensure-docker.sh"; exit 1; }
	DOCKER_TOOLS=$(DOCKER_TOOLS) bash .ci/fresh-check.sh

# The docs browser test drives Debian's Chromium (Playwright downloads no browser here) through Playwright's driver,
# a bundled Node.js that needs libatomic1 (slim images lack it). Both are installed when missing and we are root (CI);
# otherwise install them yourself or point CHROMIUM at a Chromium binary.
CHROMIUM ?= /usr/bin/chromium
PLAYWRIGHT_NODE = $(PY) -c 'import pathlib, playwright; print(pathlib.Path(playwright.__file__).parent / "driver" / "node")'
browser: $(VENV)/.dev-installed
	@node="$$($(PLAYWRIGHT_NODE))"; missing=""; \
	[ -x "$(CHROMIUM)" ] || missing="chromium"; \
	"$$node" --version >/dev/null 2>&1 || missing="$$missing libatomic1"; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi; \
	test -x "$(CHROMIUM)" || { echo "$(CHROMIUM) missing: apt-get install chromium (or set CHROMIUM)"; exit 1; }; \
	"$$node" --version >/dev/null || { echo "Playwright's driver ($$node) cannot start: apt-get install libatomic1"; exit 1; }

# The monitoring tests run Debian's Prometheus and promtool (a real server on loopback, `promtool test rules`).
# Installed when missing and we are root (CI), like Chromium; otherwise install the `prometheus` package yourself.
PROMETHEUS ?= /usr/bin/prometheus
# The docs' curl examples are run as written (make test, make walkthrough); a bare python:3.11-slim has no curl.
curl:
	@if ! command -v curl >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl; \
	fi
	@command -v curl >/dev/null || { echo "curl missing: apt-get install curl"; exit 1; }

prometheus:
	@if [ ! -x "$(PROMETHEUS)" ] && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; \
	fi
	@test -x "$(PROMETHEUS)" || { echo "$(PROMETHEUS) missing: apt-get install prometheus (or set PROMETHEUS)"; exit 1; }

# deploy/monitoring/prometheusrule.yaml is generated from the plain rules file (a test checks they agree).
RULES := deploy/monitoring/sigmoid-serve.rules.yml
prometheusrule:
	{ printf '%s\n' "# Generated from $(notdir $(RULES)) by \`make prometheusrule\`: edit that file, not this one." \
		"apiVersion: monitoring.coreos.com/v1" "kind: PrometheusRule" "metadata:" "  name: sigmoid-serve" \
		"  labels:" "    app.kubernetes.io/name: sigmoid-serve" "spec:"; \
	  sed -n '/^groups:/,$$p' $(RULES) | sed 's/^/  /'; } > deploy/monitoring/prometheusrule.yaml

demo-model: $(VENV)/.dev-installed
	$(PY) -m model_export.demos.digits --output models/digits/1/model.onnx
	$(PY) -m model_export.demos.docstrings --output models/docstrings/1/model.onnx
	$(PY) -m model_export.demos.docstrings_bert --output models/docstrings_bert/1/model.onnx

# Load this service and the two baselines on loopback (~20 minutes; gRPC cells with h2load); table in bench/results/latest.md.
# Then float32 vs int8 vs float16 rows/s and per-label F1 (bench/results/optimize.md; the first run trains its models).
bench: $(VENV)/.dev-installed
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) || \
		(sudo apt-get update -qq && sudo apt-get install -y -qq wrk)
	@command -v h2load >/dev/null || (apt-get update -qq && apt-get install -y -qq nghttp2-client) || \
		(sudo apt-get update -qq && sudo apt-get install -y -qq nghttp2-client)
	$(PY) -m bench.run $(if $(BASELINE),--baseline $(BASELINE)) $(BENCH_ARGS)
	$(PY) -m bench.optimized

# The Python-limit rows and this service's 1-worker rows only (MLP, c=64, 3 rounds: a few minutes); with
# BASELINE=REF, that commit's REST rows beside them (docs/performance/profile.md).
bench-quick: $(VENV)/.dev-installed
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	@command -v h2load >/dev/null || (apt-get update -qq && apt-get install -y -qq nghttp2-client)
	$(PY) -m bench.run --quick $(if $(BASELINE),--baseline $(BASELINE) --service-env WORKERS=1) $(BENCH_ARGS)

# The gRPC messages and service stubs, from service/protocols/v2/messages/*.proto (committed; a test checks that
# they match the .proto files and the pinned grpcio-tools).
GRPC_PROTOS := service/protocols/v2/messages/model_config.proto service/protocols/v2/messages/grpc_service.proto
grpc-code: $(VENV)/.dev-installed
	$(PY) -m grpc_tools.protoc -I . --python_out=. --grpc_python_out=. $(GRPC_PROTOS)
	rm -f service/protocols/v2/messages/model_config_pb2_grpc.py  # no service in model_config.proto

# Steady load at half capacity on 2 workers for DURATION seconds, with hot swaps and unload/loads; table in
# bench/results/soak-latest.md. Exit 1 on a failed request (predictions right after an unload or a load included),
# a replaced worker or a worker's RSS growing > 20 MB.
DURATION ?= 600
soak: $(VENV)/.serve-installed
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) || \
		(sudo apt-get update -qq && sudo apt-get install -y -qq wrk)
	$(PY) -m bench.soak --duration $(DURATION) $(SOAK_ARGS)

# 3 replicas behind haproxy (deploy/haproxy) under steady REST + gRPC load, Prometheus with the shipped rules: rolling
# restart, new version, corrupt version (exit 1 unless 0 failed and the alert fires), kill -9 and a CPU-starved
# replica (reported). About 2-3 minutes; table in bench/results/scale-latest.md (bench/scale/__init__.py says more).
scale-test: $(VENV)/.dev-installed
	@missing=""; for tool in haproxy:haproxy wrk:wrk h2load:nghttp2-client prometheus:prometheus; do \
		command -v $${tool%%:*} >/dev/null || missing="$$missing $${tool##*:}"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; fi
	$(PY) -m bench.scale

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache site
