"""The report's "against the Python limit" section: every row as a ratio of the bare limit's, measured in the same run.

REST rows (native JSON, v2 binary) are compared with the limit's row of the same protocol and concurrency: req/s
(higher is better, 1.00x = the limit) and server CPU µs per request (lower is better, 1.00x = the limit). gRPC rows
are compared with the bare gRPC servicer (grpc.aio) and with the same server's REST CPU per call. The targets of
issue 25 are judged on the 1-worker rows at c=64.
"""

from __future__ import annotations

LIMIT = "limit"
LIMIT_SYNC = "limit-grpc-sync"
REST = ("json", "v2-binary")
GRPC = "grpc-raw"
TARGET_RPS_SHARE = 0.67  # this service's req/s at 1 worker, c=64, as a share of the limit's
TARGET_GRPC_OVER_REST = 1.5  # gRPC CPU per call over the REST route's, at 1 worker
TARGET_SERVER = "service-1w"
TARGET_C = 64


def _cells(data: dict) -> dict[tuple[str, str, int], dict]:
    return {(c["server"], c["protocol"], c["c"]): c for c in data["cells"]}


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _over(a: dict | None, b: dict | None, key: str) -> float | None:
    if not a or not b or not b.get(key):
        return None
    return a[key] / b[key]


def limit_lines(run: dict, names: dict[str, str]) -> list[str]:
    """The section's Markdown lines, or none when the run has no limit rows."""
    if not any(c["server"] == LIMIT for data in run["models"].values() for c in data["cells"]):
        return []
    lines = [
        "",
        "Against the Python limit (bare ASGI + orjson + ONNX Runtime on one uvicorn process; same run, same rounds):",
        "",
        "| model | server | protocol | conc. | req/s | req/s / limit | CPU µs/req | CPU / limit |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for kind, data in run["models"].items():
        cells = _cells(data)
        for (server, protocol, c), cell in cells.items():
            if protocol not in REST or cell.get("rows_per_request", 1) != 1:
                continue
            limit = cells.get((LIMIT, protocol, c))
            lines.append(
                f"| {kind} | {names.get(server, server)} | {protocol} | {c} | {cell['rps']:,.0f} | "
                f"{_x(_over(cell, limit, 'rps'))} | {cell['cpu_us_per_request']:,.0f} | "
                f"{_x(_over(cell, limit, 'cpu_us_per_request'))} |"
            )
    lines += _grpc_lines(run, names)
    return lines


def _grpc_lines(run: dict, names: dict[str, str]) -> list[str]:
    rows = []
    for kind, data in run["models"].items():
        cells = _cells(data)
        for (server, protocol, c), cell in cells.items():
            if protocol != GRPC:
                continue
            limit = cells.get((LIMIT, GRPC, c))
            json_cell, binary_cell = cells.get((server, "json", c)), cells.get((server, "v2-binary", c))
            rows.append(
                f"| {kind} | {names.get(server, server)} | {c} | {cell['rps']:,.0f} | {_x(_over(cell, limit, 'rps'))} "
                f"| {cell['cpu_us_per_request']:,.0f} | {_x(_over(cell, limit, 'cpu_us_per_request'))} "
                f"| {_x(_over(cell, json_cell, 'cpu_us_per_request'))} "
                f"| {_x(_over(cell, binary_cell, 'cpu_us_per_request'))} |"
            )
    if not rows:
        return []
    return [
        "",
        "gRPC ModelInfer (raw tensor bytes, 1 row) against the bare grpc.aio servicer and the same server's REST:",
        "",
        "| model | server | conc. | calls/s | calls/s / limit | CPU µs/call | CPU / limit gRPC | CPU / own JSON "
        "| CPU / own v2 binary |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
    ]


def limit_targets(run: dict) -> list[str]:
    """Issue 25's targets, judged on the MLP (the demo model) at 1 worker and c=64."""
    if "mlp" not in run["models"]:
        return []
    cells = _cells(run["models"]["mlp"])
    checks = []
    for protocol in REST:
        ours, limit = cells.get((TARGET_SERVER, protocol, TARGET_C)), cells.get((LIMIT, protocol, TARGET_C))
        share = _over(ours, limit, "rps")
        if share is not None:
            ok = share >= TARGET_RPS_SHARE
            checks.append(
                f"- {'met' if ok else 'NOT met'}: MLP {protocol} at 1 worker, c={TARGET_C} >= "
                f"{TARGET_RPS_SHARE}x the Python limit's req/s ({share:.2f}x)"
            )
    grpc_cell = cells.get((TARGET_SERVER, GRPC, TARGET_C))
    for protocol in REST:
        ratio = _over(grpc_cell, cells.get((TARGET_SERVER, protocol, TARGET_C)), "cpu_us_per_request")
        if ratio is not None:
            ok = ratio <= TARGET_GRPC_OVER_REST
            checks.append(
                f"- {'met' if ok else 'NOT met'}: MLP gRPC at 1 worker, c={TARGET_C}: CPU per call <= "
                f"{TARGET_GRPC_OVER_REST}x the {protocol} REST route's ({ratio:.2f}x)"
            )
    return checks
