"""Liveness and readiness, shared by every protocol that exposes health.

Live: the process answers; it never depends on a model. Ready: not draining, at least one model, every
model in the repository loaded and warmed up, and with several workers every worker that far.
"""

from .state import ServiceState


def is_live(state: ServiceState) -> bool:
    return True


def not_ready_reasons(state: ServiceState) -> list[str]:
    if state.draining:
        return ["shutting down"]
    reasons = state.registry.not_ready_reasons()
    if not reasons and state.roster is not None:
        return state.roster.not_ready_reasons()
    return reasons


def is_ready(state: ServiceState) -> bool:
    return not not_ready_reasons(state)
