"""Every knob of the service, read from environment variables (names are the field names, upper-case)."""

import math
import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    model_repository: Path = Field(Path("models"), description="Folder laid out as NAME/VERSION/model.onnx.")
    default_model: str = Field("", description="Model served by POST /predict; empty = the only model.")
    host: str = Field("127.0.0.1", description="Address uvicorn binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port uvicorn listens on (HTTP: native, v2, TF Serving).")
    grpc_port: int = Field(
        8001, ge=0, le=65535, description="gRPC port (Open Inference Protocol v2, grpc.health.v1); 0 = no gRPC."
    )
    # One Python process serves on one core at a time; what more workers give is measured in docs/performance/.
    # Workers share metrics and repository control through SHARED_DIR; each has its own batch queue.
    workers: int = Field(
        "auto",  # type: ignore[assignment]  # resolved by the validator below
        ge=1,
        validate_default=True,
        description="uvicorn worker processes; auto = the CPUs this process may use (affinity and cgroup limit).",
    )
    shared_dir: Path | None = Field(
        None,
        description="Folder the workers of one server share (metrics, models unloaded through the API); "
        "with WORKERS > 1 a temporary one is made when unset.",
    )
    # ORT's own threads spin against the event loop: docs/performance/method.md#why-these-defaults.
    ort_intra_op_threads: int = Field(1, ge=0, description="ONNX Runtime threads per inference (0 = ORT picks).")
    max_batch_size: int = Field(
        64, ge=1, description="Most rows in one request and in one batch (run in chunks of the model's best size)."
    )
    # 0: under load a batch gathers while the previous one runs, so waiting on purpose only adds latency; for models
    # that get much faster per row in larger batches (docs/performance/method.md#why-these-defaults).
    max_batch_delay_ms: float = Field(
        0.0, ge=0, description="How long a batch waits for more rows before it runs (0 = only what is queued)."
    )
    inline_run_us: float = Field(
        50.0, ge=0, description="Batches expected to run faster than this skip the thread hand-off (0 = never)."
    )
    max_queue_rows: int = Field(1024, ge=1, description="Rows waiting per model before requests get 503.")
    model_poll_seconds: float = Field(
        5.0, ge=0, description="How often the repository is checked for new, changed or removed models (0 = never)."
    )
    request_timeout_ms: float = Field(
        30000.0, ge=0, description="Most time a request may take; the X-Request-Timeout-Ms header can only shorten it."
    )
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Largest request body accepted (413 above).")
    max_text_chars: int = Field(
        100_000, ge=1, description="Most characters (Unicode code points) in one text of a text model (400 above)."
    )
    # Slow or huge clients (service/uvicorn_protocol.py): each one costs a worker memory and a connection slot, so
    # each is bounded. 32 KB of head fits any client's headers (a long bearer token, cookies) with room to spare.
    max_header_bytes: int = Field(
        32 * 1024, ge=1024, description="Largest request head, request line and headers together (431 above)."
    )
    header_timeout_seconds: float = Field(
        10.0, gt=0, description="Most time from a connection's start, or a request's first byte, to its last header."
    )
    body_chunk_timeout_seconds: float = Field(
        10.0, gt=0, description="Most time a request body may pause between two pieces (408 after)."
    )
    max_connections: int = Field(
        1000, ge=1, description="Connections (or requests in flight) per worker at which new requests get 503."
    )
    access_log: bool = Field(False, description="One log line per request (off by default: it costs throughput).")
    label_metrics: bool = Field(
        True, description="Per-label metrics: rows predicted positive and the probability histogram, per label."
    )
    log_level: str = Field("info", description="debug, info, warning, error.")
    log_format: str = Field("json", pattern="^(json|text)$", description="json: one JSON object a line; text: humans.")
    api_keys: SecretStr = Field(SecretStr(""), description="Comma-separated API keys; empty = no keys needed.")
    api_keys_file: Path | None = Field(None, description="One API key a line ('#' comments), added to API_KEYS.")
    cors_origins: str = Field("", description="Comma-separated origins allowed by CORS ('*' = any); empty = no CORS.")
    shutdown_grace_seconds: float = Field(
        20.0, ge=0, description="On SIGTERM, how long in-flight requests may take before they are cancelled."
    )
    shutdown_delay_seconds: float = Field(
        0.0, ge=0, description="On SIGTERM, keep serving this long with readiness 503 before draining."
    )

    @field_validator("workers", mode="before")
    @classmethod
    def _resolve_auto_workers(cls, value: object) -> object:
        return available_cpus() if isinstance(value, str) and value.strip().lower() == "auto" else value

    def api_key_list(self) -> list[str]:
        keys = self.api_keys.get_secret_value().split(",")
        if self.api_keys_file is not None:
            keys += self.api_keys_file.read_text().splitlines()
        return [k.strip() for k in keys if k.strip() and not k.strip().startswith("#")]

    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    def model_path(self, name: str, version: int) -> Path:
        return self.model_repository / name / str(version) / "model.onnx"


@lru_cache
def get_settings() -> Settings:
    return Settings()


def available_cpus(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """CPUs this process may run on, lowered to its cgroup's CPU quota (a container's `--cpus`, a pod's limit).

    A fractional quota rounds down (1.5 CPUs of time: 1 worker, so that workers never outnumber whole CPUs and get
    throttled), and never below 1.
    """
    cpus = len(os.sched_getaffinity(0))
    quota = cgroup_cpu_quota(cgroup)
    return cpus if quota is None else max(1, min(cpus, math.floor(quota)))


def cgroup_cpu_quota(cgroup: Path) -> float | None:
    """CPUs' worth of time per period the cgroup allows; None when unlimited, absent, unreadable or malformed.

    cgroup v2: `cpu.max` holds "max 100000" or "150000 100000". cgroup v1: `cpu/cpu.cfs_quota_us` (-1 when
    unlimited) over `cpu/cpu.cfs_period_us`, where `cpu` may be `cpu,cpuacct`. Inside a container either mount's
    root is the container's own cgroup.
    """
    candidates = [(cgroup / "cpu.max",)] + [
        (cgroup / folder / "cpu.cfs_quota_us", cgroup / folder / "cpu.cfs_period_us")
        for folder in ("cpu", "cpu,cpuacct")
    ]
    for files in candidates:
        try:
            fields = " ".join(path.read_text() for path in files).split()
            if fields[0] in ("max", "-1"):
                return None
            quota, period = int(fields[0]), int(fields[1])
        except (OSError, ValueError, IndexError):
            continue  # absent or unreadable: the next kind of cgroup may be there
        if quota > 0 and period > 0:
            return quota / period
    return None
