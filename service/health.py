"""Liveness and readiness, shared by every protocol that exposes health.

Live: the process answers; it never depends on a model. Ready: not draining, at least one model, every
model in the repository loaded and warmed up.
"""

from .state import ServiceState


def is_live(state: ServiceState) -> bool:
    return True


def not_ready_reasons(state: ServiceState) -> list[str]:
    if state.draining:
        return ["shutting down"]
    return state.registry.not_ready_reasons()


def is_ready(state: ServiceState) -> bool:
    return not not_ready_reasons(state)
