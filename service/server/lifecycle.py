"""Shutdown: readiness turns 503 the moment SIGTERM/SIGINT arrives, before uvicorn stops accepting.

uvicorn stops accepting and waits for in-flight requests on its own, but it runs the lifespan shutdown only
after that drain, too late for a load balancer to learn from /health/ready. So the lifespan wraps the
signal handler uvicorn installed: the wrapper sets `draining` first, optionally keeps serving (with
readiness 503) for SHUTDOWN_DELAY_SECONDS so endpoints are withdrawn, then hands the signal to uvicorn.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `python -m service` imports this module: its parent process need not load the app
    from ..core.dataplane import DataPlane

log = logging.getLogger(__name__)

DRAIN_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def drain_on_signal(
    plane: DataPlane,
    delay: float,
    loop: asyncio.AbstractEventLoop,
    on_drain: Callable[[], None] | None = None,
) -> Callable[[], None]:
    """Wrap the current SIGTERM/SIGINT handlers; returns a function that restores them. `delay`: the seconds of
    SHUTDOWN_DELAY_SECONDS. `on_drain` is called on the loop when the drain starts, as uvicorn stops accepting (the
    gRPC server stops accepting then too)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # signals reach the main thread only (e.g. an in-process test client)
    previous = {sig: signal.getsignal(sig) for sig in DRAIN_SIGNALS}
    signalled: list[int] = []

    def handle(sig: int, frame: FrameType | None) -> None:
        first = not signalled
        signalled.append(sig)
        plane.draining = True
        handler = previous[signal.Signals(sig)]
        if not callable(handler):
            return
        if first and delay > 0:
            log.info("signal %s: readiness is 503, still serving for %.1fs before draining", sig, delay)
            loop.call_soon_threadsafe(loop.call_later, delay, drain, handler, sig)
        else:
            log.info("signal %s: readiness is 503, draining in-flight requests", sig)
            if on_drain is not None:
                loop.call_soon_threadsafe(on_drain)
            handler(sig, frame)  # a second signal during the delay stops at once

    def drain(handler: Callable[[int, FrameType | None], object], sig: int) -> None:
        if on_drain is not None:
            on_drain()
        handler(sig, None)

    for sig in DRAIN_SIGNALS:
        signal.signal(sig, handle)

    def restore() -> None:
        for sig, handler in previous.items():
            if signal.getsignal(sig) is handle:
                signal.signal(sig, handler)

    return restore


def exit_quietly_on_terminate() -> None:
    """After a graceful drain uvicorn re-raises the signal with the previous handler: make that exit 0.

    Without this, `python -m service` outside a container dies by SIGTERM (status 143) after a clean
    drain; as PID 1 in a container the kernel ignores it instead. Both should report success.
    """
    signal.signal(signal.SIGTERM, _exit_zero)


def _exit_zero(sig: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
