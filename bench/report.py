"""The bench's one table (markdown) and the ratios the targets are stated in, from a run's JSON."""

from __future__ import annotations

from .baseline import comparison
from .text import text_table

SERVER_NAMES = {
    "service": "sigmoid-serve",
    "service-1w": "sigmoid-serve WORKERS=1",
    "service-labels-off": "sigmoid-serve LABEL_METRICS=false",
    "baseline": "sigmoid-serve at the baseline commit",
    "minimal": "minimal FastAPI + ORT",
    "naive": "naive FastAPI + Keras",
}


def _cell(run: dict, kind: str, server: str, protocol: str, c: int) -> dict | None:
    for cell in run["models"].get(kind, {}).get("cells", []):
        if (cell["server"], cell["protocol"], cell["c"]) == (server, protocol, c):
            return cell
    return None


def _ratio(a: dict | None, b: dict | None) -> float | None:
    return a["rps"] / b["rps"] if a and b and b["rps"] else None


def _fmt(value: float | None, spec: str = ".1f", suffix: str = "x") -> str:
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


def render(run: dict) -> str:
    m = run["machine"]
    lines = [
        f"Run {run['date']} on {m['cpu']}, {m['cores']} cores, Python {m['python']}, load average at start "
        f"{m['load_avg'][0]:.2f}; wrk 1 thread, cells of {run.get('rounds', 1)} round-robin rounds of "
        f"{run['seconds_per_cell']:g} s (median round kept), 1 row per request (v2-binary xN: N rows); "
        f"pinning: server {run['pinning']['server'] or 'none'}, wrk {run['pinning']['wrk'] or 'none'}; "
        f"service settings {run['settings']}.",
        "",
        "| model | server | protocol | conc. | req/s | rows/s | p50 ms | p99 ms | errors | server CPU µs/req |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, data in run["models"].items():
        for cell in data["cells"]:
            lines.append(
                f"| {kind} | {SERVER_NAMES[cell['server']]} | {cell['protocol']} | {cell['c']} | {cell['rps']:,.0f} | "
                f"{_rows(cell):,.0f} | "
                f"{cell['p50_ms']:.2f} | {cell['p99_ms']:.2f} | {cell['errors']} | {cell['cpu_us_per_request']:,.0f} |"
            )
    lines += _load_generator_cost(run)
    lines += text_table(run["text"]) if "text" in run else []
    lines += ["", "| model | raw ONNX Runtime rows/s in-process (intra-op threads: batch 1 / 8 / 64) | best |"]
    lines += ["|---|---|---:|"]
    for kind, data in run["models"].items():
        per_threads = "; ".join(
            f"{t}: " + " / ".join(f"{v:,.0f}" for v in limit.values()) for t, limit in data["raw_ort"].items()
        )
        lines.append(f"| {kind} | {per_threads} | {_best(data):,.0f} |")
    lines += ["", "| model | server | cold start to ready s | RSS per process MB | TensorFlow loaded |"]
    lines += ["|---|---|---:|---|---|"]
    for kind, data in run["models"].items():
        for name, info in data["servers"].items():
            rss = ", ".join(f"{v:.0f}" for v in info["rss_mb"].values())
            lines.append(
                f"| {kind} | {SERVER_NAMES[name]} | {info['cold_start_s']:.2f} | {rss} | "
                f"{'yes' if info['tensorflow_loaded'] else 'no'} |"
            )
    lines += ["", "Ratios (same run):", ""]
    for kind in run["models"]:
        for c in (1, 8, 64):
            ours = _cell(run, kind, "service", "json", c)
            lines.append(
                f"- {kind}, c={c}: sigmoid-serve JSON / minimal = "
                f"{_fmt(_ratio(ours, _cell(run, kind, 'minimal', 'json', c)))}, "
                f"/ naive = {_fmt(_ratio(ours, _cell(run, kind, 'naive', 'json', c)))}"
            )
        for server, protocol, best in _v2_bests(run, kind):
            share = _rows(best) / _best(run["models"][kind])
            lines.append(
                f"- {kind}: {SERVER_NAMES[server]} {protocol} ({best['rows_per_request']} rows/request) best "
                f"{_rows(best):,.0f} rows/s (c={best['c']}) = {share:.0%} of raw ONNX Runtime's best "
                f"{_best(run['models'][kind]):,.0f} rows/s"
            )
    lines += _label_metrics_cost(run) + comparison(run)
    return "\n".join(lines + ["", "Targets:", ""] + _targets(run)) + "\n"


def _label_metrics_cost(run: dict) -> list[str]:
    """The per-label metrics' cost: the MLP's requests/s with them on (the default) and off, in the same run."""
    lines = []
    for c in (1, 8, 64):
        on, off = _cell(run, "mlp", "service", "json", c), _cell(run, "mlp", "service-labels-off", "json", c)
        if "mlp" in run["models"] and on and off and off["rps"]:
            lines.append(
                f"- mlp JSON c={c}: per-label metrics on {on['rps']:,.0f} req/s, off {off['rps']:,.0f} req/s "
                f"({on['rps'] / off['rps'] - 1:+.1%})"
            )
    return ["", "Per-label metrics (same run):", "", *lines] if lines else []


def _targets(run: dict) -> list[str]:
    """The issue's targets, judged for the defaults (`service`) and, where measured, for `WORKERS=1`."""
    checks = []
    on, off = (_cell(run, "mlp", s, "json", 64) for s in ("service", "service-labels-off"))
    if on and off and off["rps"]:
        cost = 1 - on["rps"] / off["rps"]
        checks.append(_check("per-label metrics cost <= 5% of the MLP's req/s at c=64", cost <= 0.05, f"{cost:+.1%}"))
    for server in ("service", "service-1w"):
        if any(c["server"] == server for data in run["models"].values() for c in data["cells"]):
            checks += _targets_of(run, server, "" if server == "service" else " [WORKERS=1]")
    return checks


def _targets_of(run: dict, server: str, tag: str) -> list[str]:
    checks = []
    models = run["models"]
    if "mlp" in models:
        ours, base = _cell(run, "mlp", server, "json", 64), _cell(run, "mlp", "minimal", "json", 64)
        ratio = _ratio(ours, base)
        checks.append(_check(f"MLP c=64 >= 2.5x minimal req/s{tag}", ratio is not None and ratio >= 2.5, _fmt(ratio)))
        if ours:
            checks.append(_check(f"MLP c=64 p99 <= 25 ms{tag}", ours["p99_ms"] <= 25, f"{ours['p99_ms']:.1f} ms"))
            checks.append(_check(f"MLP c=64 0 errors{tag}", ours["errors"] == 0, str(ours["errors"])))
        info = models["mlp"]["servers"].get(server)
        if info:
            rss = max(info["rss_mb"].values())
            checks.append(_check(f"demo model RSS <= 150 MB per worker{tag}", rss <= 150, f"{rss:.0f} MB"))
            cold = info["cold_start_s"]
            checks.append(_check(f"cold start <= 2 s{tag}", cold <= 2, f"{cold:.2f} s"))
            checks.append(_check(f"no TensorFlow in the serving process{tag}", not info["tensorflow_loaded"], ""))
    if "cnn" in models:
        ratio = _ratio(_cell(run, "cnn", server, "json", 64), _cell(run, "cnn", "minimal", "json", 64))
        checks.append(
            _check(f"CNN c=64 JSON >= 2.5x minimal req/s{tag}", ratio is not None and ratio >= 2.5, _fmt(ratio))
        )
        for name, protocol, best in _v2_bests(run, "cnn"):
            if name == server:
                share = _rows(best) / _best(models["cnn"])
                rows = best["rows_per_request"]
                what = f"CNN {protocol} ({rows} rows/request) >= 50% of raw ORT best rows/s{tag}"
                checks.append(_check(what, share >= 0.5, f"{share:.0%}"))
    return checks


def _v2_bests(run: dict, kind: str) -> list[tuple[str, str, dict]]:
    """(server, protocol, the cell with the most rows/s) for each v2 binary protocol a server was measured on."""
    cells = run["models"][kind]["cells"]
    bests = []
    for server in dict.fromkeys(c["server"] for c in cells):
        for protocol in _v2_protocols(run, kind):
            measured = [c for c in cells if c["server"] == server and c["protocol"] == protocol]
            if measured:
                bests.append((server, protocol, max(measured, key=_rows)))
    return bests


def _v2_protocols(run: dict, kind: str) -> list[str]:
    """The v2 binary protocols (REST binary, gRPC raw) measured, in first-seen order (1 row, then client batches)."""
    seen = [c["protocol"] for c in run["models"][kind]["cells"] if c["protocol"].startswith(("v2-binary", "grpc-raw"))]
    return list(dict.fromkeys(seen))


def _load_generator_cost(run: dict) -> list[str]:
    """What h2load itself spent per gRPC call: it shares the cores with the server, as wrk does."""
    costs = [
        f"{kind} {SERVER_NAMES[c['server']]} {c['protocol']} c={c['c']}: {c['load_cpu_us_per_request']:,.0f}"
        for kind, data in run["models"].items()
        for c in data["cells"]
        if "load_cpu_us_per_request" in c
    ]
    if not costs:
        return []
    return ["", "gRPC load generator (h2load) CPU µs per call: " + "; ".join(costs) + "."]


def _check(what: str, ok: bool, value: str) -> str:
    return f"- {'met' if ok else 'NOT met'}: {what} ({value})" if value else f"- {'met' if ok else 'NOT met'}: {what}"


def _rows(cell: dict) -> float:
    return cell["rps"] * cell.get("rows_per_request", 1)


def _best(data: dict) -> float:
    return max((v for limit in data["raw_ort"].values() for v in limit.values()), default=float("nan"))
