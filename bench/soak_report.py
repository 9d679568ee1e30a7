"""The soak's result as a Markdown page: one row per minute, then what the model changes did."""

from __future__ import annotations

STREAMS = ("native", "v2-binary", "tfserving")


def render(result: dict) -> str:
    minutes = result["minutes"]
    workers = list(result["rss_start_mb"])
    lines = [
        f"# Soak: {result['duration_s']:.0f} s, 2 workers",
        "",
        "Capacity alone (32 connections): "
        + ", ".join(f"{s} {result['capacity_rps'][s]:.0f} req/s" for s in STREAMS)
        + "; soak target (a sixth of each, half the server in all): "
        + ", ".join(f"{s} {result['target_rps'][s]:.0f}" for s in STREAMS)
        + ".",
        "",
        "| minute | " + " | ".join(f"{s} req/s | {s} p99 ms" for s in STREAMS) + " | failed | "
        + " | ".join(f"RSS worker {i + 1} MB" for i in range(len(workers))) + " | load average |",
        "|---:|" + "---:|" * (2 * len(STREAMS) + 2 + len(workers)),
        "| start | " + " | ".join("" for _ in range(2 * len(STREAMS))) + " | | "
        + " | ".join(f"{result['rss_start_mb'][w]:.1f}" for w in workers) + " | |",
    ]  # fmt: skip
    for minute in minutes:
        streams = minute["streams"]
        cells = [f"{streams[s]['rps']:.0f} | {streams[s]['p99_ms']:.1f}" for s in STREAMS]
        failed = sum(streams[s]["failed"] for s in STREAMS)
        rss = [f"{minute['rss_mb'][w]:.1f}" if w in minute["rss_mb"] else "gone" for w in workers]
        load = minute.get("load_average", 0.0)
        lines.append(f"| {minute['index']} | {' | '.join(cells)} | {failed} | {' | '.join(rss)} | {load:.1f} |")
    replaced = "yes" if result["workers_replaced"] else "no"
    lines += [
        "",
        f"Requests: {result['requests']}, failed: {result['failed_requests']}. "
        f"Largest RSS growth of a worker: {result['max_rss_growth_mb']:.1f} MB "
        f"(limit {result['rss_growth_limit_mb']:.0f} MB). Workers replaced: {replaced}.",
        "",
        "Model changes:",
        "",
    ]
    for minute in minutes:
        for event in minute["events"]:
            lines.append(f"- minute {minute['index']}: {describe(event)}")
    failures = [
        f"- minute {m['index']}, {s}: {status} x{detail['count']}: {detail['body']}"
        for m in minutes
        for s in STREAMS
        for status, detail in m["streams"][s]["statuses"].items()
    ]
    if failures:
        lines += ["", "Failed requests of the steady load:", "", *failures]
    return "\n".join(lines) + "\n"


def describe(event: dict) -> str:
    if event["event"] == "hot swap":
        took = event["seconds_until_served"]
        served = f"served by every worker after {took:.1f} s" if took is not None else "NOT served within 30 s"
        return f"hot swap to digits version {event['version']}, {served}"
    parts = []
    for action, promise in (("unload", "none served"), ("load", "all served")):
        outcome = event[action]
        after = ", ".join(f"{code}: {count}" for code, count in sorted(outcome["after"].items()))
        parts.append(f"{action} answered {outcome['status']}, then {after} ({promise} expected)")
        if outcome["bodies"]:
            parts.append("bodies: " + "; ".join(outcome["bodies"]))
    return "unload/load spare: " + "; ".join(parts)
