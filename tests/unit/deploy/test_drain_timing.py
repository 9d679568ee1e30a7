"""The drain sequence as inequalities between the numbers the manifests and the kit set (pure: files only).

Kubernetes, for each Deployment in deploy/*.yaml, from the moment a pod is deleted:
  the endpoints drop it and the kubelet runs preStop (sleep P) at once; then SIGTERM: readiness 503 at once, the
  service keeps serving SHUTDOWN_DELAY_SECONDS (D), then stops accepting and gives the requests in flight up to
  SHUTDOWN_GRACE_SECONDS (G); SIGKILL comes terminationGracePeriodSeconds (T) after the deletion. So:
  - P >= ENDPOINT_PROPAGATION_SECONDS: kube-proxy and ingress controllers stop sending before SIGTERM;
  - D >= readiness periodSeconds x failureThreshold: whatever routes by readiness (a terminating endpoint's
    `serving` condition, which kube-proxy falls back to; load balancers probing the pod) has seen the 503s before
    the service stops accepting (a failed probe answers at once: the pod still serves, no timeout is waited);
  - T >= P + D + G + KILL_MARGIN_SECONDS: SIGKILL never cuts the drain;
  - liveness periodSeconds x failureThreshold >= D + G: a liveness probe refused once the listener is closed does not
    get the pod restarted in the middle of its drain.
The scale-out kit (deploy/haproxy): haproxy notices a replica's 503 within inter + (fall - 1) x fastinter + timeout
check, which must stay below the replicas' SHUTDOWN_DELAY_SECONDS in its compose file, and Docker's
stop_grace_period must cover D + G.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from service.settings import Settings
from tests.support.server import ROOT

DEPLOY = ROOT / "deploy"
KIT = DEPLOY / "haproxy"
ENDPOINT_PROPAGATION_SECONDS = 5.0  # the usual allowance for endpoint removal to reach every node and proxy
KILL_MARGIN_SECONDS = 2.0  # the process exits after its drain; the kubelet's SIGKILL is not to the millisecond


def deployments() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") == "Deployment":
                found.append((f"{path.name}:{document['metadata']['name']}", document))
    return found


def setting(env: dict[str, str], name: str) -> float:
    """The container's value, or the service's default when the manifest leaves it unset."""
    default = Settings.model_fields[name.lower()].default
    return float(env.get(name, default))


def drain_violations(deployment: dict[str, Any]) -> list[str]:
    spec = deployment["spec"]["template"]["spec"]
    problems = []
    for container in spec["containers"]:
        env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
        command = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
        pause = float(command[1]) if command[:1] == ["sleep"] else 0.0
        delay = setting(env, "SHUTDOWN_DELAY_SECONDS")
        grace = setting(env, "SHUTDOWN_GRACE_SECONDS")
        kill_after = float(spec.get("terminationGracePeriodSeconds", 30))
        readiness, liveness = container["readinessProbe"], container["livenessProbe"]
        noticed = readiness.get("periodSeconds", 10) * readiness.get("failureThreshold", 3)
        restarts_after = liveness.get("periodSeconds", 10) * liveness.get("failureThreshold", 3)
        name = container["name"]
        if pause < ENDPOINT_PROPAGATION_SECONDS:
            problems.append(f"{name}: preStop sleep {pause} s < {ENDPOINT_PROPAGATION_SECONDS} s for the endpoints")
        if delay < noticed:
            problems.append(f"{name}: SHUTDOWN_DELAY_SECONDS {delay} < readiness period x failureThreshold {noticed}")
        if kill_after < pause + delay + grace + KILL_MARGIN_SECONDS:
            problems.append(
                f"{name}: terminationGracePeriodSeconds {kill_after} < preStop {pause} + SHUTDOWN_DELAY_SECONDS "
                f"{delay} + SHUTDOWN_GRACE_SECONDS {grace} + {KILL_MARGIN_SECONDS}"
            )
        if restarts_after < delay + grace:
            problems.append(f"{name}: liveness gives up after {restarts_after} s, before the drain ends")
    return problems


@pytest.mark.parametrize(("where", "deployment"), deployments(), ids=[name for name, _ in deployments()])
def test_every_deployment_follows_the_drain_sequence(where: str, deployment: dict[str, Any]) -> None:
    assert drain_violations(deployment) == []


def test_there_is_a_deployment_to_check() -> None:
    assert [name for name, _ in deployments()] == ["deployment.yaml:sigmoid-serve"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda spec, c: spec.__setitem__("terminationGracePeriodSeconds", 20), "terminationGracePeriodSeconds"),
        (lambda spec, c: c["readinessProbe"].__setitem__("periodSeconds", 10), "readiness period"),
        (lambda spec, c: c["lifecycle"]["preStop"]["exec"].__setitem__("command", ["sleep", "1"]), "preStop"),
        (lambda spec, c: c["livenessProbe"].__setitem__("failureThreshold", 1), "liveness"),
        (lambda spec, c: c.__setitem__("env", [e for e in c["env"] if e["name"] != "SHUTDOWN_DELAY_SECONDS"]), "DELAY"),
    ],
    ids=["sigkill-too-soon", "readiness-too-slow", "prestop-too-short", "liveness-too-eager", "no-delay"],
)
def test_a_broken_sequence_is_caught(change, words: str) -> None:
    deployment = yaml.safe_load(yaml.safe_dump(deployments()[0][1]))
    spec = deployment["spec"]["template"]["spec"]
    change(spec, spec["containers"][0])
    assert any(words in problem for problem in drain_violations(deployment))


def haproxy_detection_seconds(config: str) -> float:
    """Worst time from a replica's first 503 to haproxy taking it out: the next check comes within `inter`, the
    `fall` - 1 confirming ones `fastinter` apart, each may wait `timeout check`."""
    server = re.search(r"^\s*default-server\s+(.*)$", config, re.M).group(1).split()
    option = dict(zip(server[::2], server[1::2], strict=False))
    check_timeout = re.search(r"^\s*timeout check\s+(\S+)", config, re.M).group(1)
    return seconds(option["inter"]) + (int(option["fall"]) - 1) * seconds(option["fastinter"]) + seconds(check_timeout)


def seconds(text: str) -> float:
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)?", text).groups()
    return float(number) / (1000 if unit == "ms" else 1)


def test_the_kit_keeps_serving_until_haproxy_has_noticed() -> None:
    detection = haproxy_detection_seconds((KIT / "haproxy.cfg").read_text())
    assert detection == 2.5  # the figure the config's and the compose file's comments state
    services = yaml.safe_load((KIT / "docker-compose.yml").read_text())["services"]
    replicas = {name: s for name, s in services.items() if name.startswith("replica")}
    assert len(replicas) == 3
    for name, service in replicas.items():
        delay = float(service["environment"]["SHUTDOWN_DELAY_SECONDS"])
        grace = float(service["environment"]["SHUTDOWN_GRACE_SECONDS"])
        assert delay > detection, f"{name}: SHUTDOWN_DELAY_SECONDS {delay} <= haproxy's detection {detection}"
        assert seconds(service["stop_grace_period"]) >= delay + grace + KILL_MARGIN_SECONDS, name


def test_the_scale_test_uses_the_kit_timings() -> None:
    from bench.scale.replicas import SHUTDOWN_DELAY_SECONDS

    assert haproxy_detection_seconds((KIT / "haproxy.cfg").read_text()) < SHUTDOWN_DELAY_SECONDS
