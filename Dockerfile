# sigmoid-serve images. Targets:
#   serve     (the default) ONNX Runtime server, no TensorFlow, non-root, demo model baked in at /models
#   exporter  Keras -> ONNX conversion with TensorFlow and tf2onnx: `docker run ... SOURCE --output ...`
# Build with the classic builder or BuildKit:  docker build --target serve -t sigmoid-serve .
# (The classic builder builds every stage above the target: always pass --target serve for a fast build.)

ARG PYTHON_IMAGE=python:3.11-slim

# ---- serving dependencies in a venv -----------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
WORKDIR /src
# Dependencies first (their own layer, cached until pyproject.toml changes), then the package itself.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && /opt/venv/bin/pip install -r requirements.txt
COPY service/ service/
# The runtime needs neither pip nor setuptools (they are most of what an empty venv weighs).
RUN /opt/venv/bin/pip install --no-deps . \
    && /opt/venv/bin/python -m pip uninstall --yes --quiet setuptools pip \
    && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +

# ---- serving image ------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS serve
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app
COPY --from=builder /opt/venv /opt/venv
COPY models/ /models/
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    GRPC_PORT=8001 \
    MODEL_REPOSITORY=/models \
    HOME=/tmp
USER 10001:10001
WORKDIR /tmp
# HTTP (REST: native, v2, TF Serving) and gRPC (Open Inference Protocol v2, grpc.health.v1).
EXPOSE 8000 8001
# Readiness, not liveness: "healthy" means every model is loaded and warmed up.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["python", "-m", "service.server.healthcheck"]
# Serving its own demo folder (two models), POST /predict answers with digits, as `make run` does; a repository of
# yours (mounted at /models or named by MODEL_REPOSITORY) gets the service's rule unless DEFAULT_MODEL is given.
# sh only sets that default, then exec: python is PID 1 and gets SIGTERM itself (drain, then exit 0).
ENTRYPOINT ["/bin/sh", "-c", "if [ \"$MODEL_REPOSITORY\" = /models ] && [ -z \"${DEFAULT_MODEL+set}\" ] && [ -f /models/digits/examples.json ]; then export DEFAULT_MODEL=digits; fi; exec python -m service \"$@\"", "python -m service"]

# ---- exporter: TensorFlow + tf2onnx ---------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS export-builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['export']))" > requirements.txt \
    && /opt/venv/bin/pip install -r requirements.txt
COPY service/ service/
COPY model_export/ model_export/
RUN /opt/venv/bin/pip install --no-deps . \
    && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +

FROM ${PYTHON_IMAGE} AS exporter
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app
COPY --from=export-builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TF_CPP_MIN_LOG_LEVEL=2
USER 10001:10001
WORKDIR /work
ENTRYPOINT ["python", "-m", "model_export"]
CMD ["--help"]

# ---- default target: the serving image (BuildKit builds only what this needs) -----------------------------
FROM serve
