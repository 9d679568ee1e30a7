"""The bench's Python-limit servers, the service's settings in the bench (one API key set), and `--quick`.

- `limit`: bench/limit_app.py on one uvicorn process (uvloop, httptools, no access log), native JSON, v2 binary and
  gRPC ModelInfer on grpc.aio (bench/limit_grpc.py).
- `limit-grpc-sync`: the same, with grpc's sync server on a thread pool for ModelInfer (its gRPC row only);
- `limit-grpc-sync-loop`: the sync server handing each call to the event loop and waiting (its gRPC row only);
- `limit-grpclib`: ModelInfer on grpclib, a pure-Python gRPC server on the event loop (its gRPC row only).

Every request of the bench carries `Authorization: Bearer <API_KEY>`: the service runs with one key set (its
defaults otherwise), as a deployment that is not open to anyone does; the other servers ignore the header.
"""

from __future__ import annotations

import argparse

from .grpc_load import GRPC_RAW
from .processes import Server, free_port

API_KEY = "bench-key-0123456789abcdef"
LIMITS = ("limit", "limit-grpc-sync", "limit-grpc-sync-loop", "limit-grpclib")
QUICK_HELP = "the MLP's Python-limit rows and this service's 1-worker rows at c=64, 3 rounds (a few minutes)"


def limit_servers(command: list[str], onnx_path: str, cpus: str | None) -> list[tuple[Server, str]]:
    servers = []
    grpc_only = (GRPC_RAW,)
    kinds = (
        ("limit", "aio", None),
        ("limit-grpc-sync", "sync", grpc_only),
        ("limit-grpc-sync-loop", "sync-loop", grpc_only),
        ("limit-grpclib", "grpclib", grpc_only),
    )
    for name, grpc_kind, protocols in kinds:
        port = str(free_port())
        env = {"LIMIT_MODEL": onnx_path, "LIMIT_GRPC_PORT": port, "GRPC_PORT": port, "LIMIT_GRPC": grpc_kind}
        servers.append((Server(name, command, env, cpus, protocols=protocols), "/predict"))
    return servers


def service_settings(items: list[str]) -> dict[str, str]:
    """--service-env KEY=VALUE items, over the bench's own defaults for the service (one API key)."""
    given = dict(item.split("=", 1) for item in items)
    if not any(key.upper() in ("API_KEYS", "API_KEYS_FILE") for key in given):
        given["API_KEYS"] = API_KEY
    return given


def quick(args: argparse.Namespace) -> argparse.Namespace:
    """--quick: the limit and the 1-worker service on the MLP at c=64 only; no raw ORT, no text rows."""
    if args.quick:
        args.models, args.servers, args.concurrency = "mlp", f"{','.join(LIMITS)},service-1w", "64"
        args.rounds = min(args.rounds, 3)
        args.no_raw = args.no_text = args.no_transformer = True
    return args
