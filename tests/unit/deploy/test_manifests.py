"""deploy/: the core Kubernetes objects pass kubernetes-validate --strict (oldest and newest schema it ships);
the KServe objects (CRDs, no built-in schema) are checked structurally, their container spec against the
core Pod schema. Cross-checks tie the manifests to the image (uid, port, health paths, drain timing)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from service.contract.version import VERSION
from tests.support.server import ROOT

DEPLOY = ROOT / "deploy"
KUBERNETES_VERSIONS = ["1.29.0", "1.37.0"]
IMAGE_UID = int(re.search(r"^USER (\d+):\d+$", (ROOT / "Dockerfile").read_text(), re.M).group(1))


def kustomize(folder: Path) -> list[dict[str, Any]]:
    """What `kustomize build` yields for our kustomizations (resources + image tags, nothing else used)."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert set(kustomization) <= {"apiVersion", "kind", "labels", "resources", "images"}
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in folder.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk, "every manifest is listed in kustomization.yaml"
    tags = {i["name"]: f"{i['name']}:{i['newTag']}" for i in kustomization.get("images", [])}
    documents = [doc for name in kustomization["resources"] for doc in yaml.safe_load_all((folder / name).read_text())]
    for doc in documents:
        for container in pod_spec(doc).get("containers", []) if pod_spec(doc) else []:
            container["image"] = tags.get(container["image"], container["image"])
    return documents


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    if doc["kind"] == "Deployment":
        return doc["spec"]["template"]["spec"]
    if doc["kind"] == "ServingRuntime":
        return doc["spec"]
    return None


def by_kind(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds = [doc["kind"] for doc in documents]
    assert len(kinds) == len(set(kinds))
    return {doc["kind"]: doc for doc in documents}


def env_of(container: dict[str, Any]) -> dict[str, str]:
    """The container's literal environment values (entries taken from elsewhere, `valueFrom`, are left out)."""
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


CORE = by_kind(kustomize(DEPLOY))
KSERVE = by_kind(kustomize(DEPLOY / "kserve"))


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("kind", sorted(CORE))
def test_core_objects_pass_strict_schema_validation(kind: str, version: str) -> None:
    kubernetes_validate.validate(CORE[kind], version, strict=True)  # raises on any schema violation


def test_kubernetes_validate_cli_strict() -> None:
    files = [str(DEPLOY / name) for name in ("deployment.yaml", "service.yaml", "hpa.yaml", "pdb.yaml")]
    cli = Path(sys.executable).with_name("kubernetes-validate")
    result = subprocess.run([str(cli), "--strict", *files], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") == len(files)


def test_strict_validation_rejects_a_misspelt_field() -> None:
    broken = yaml.safe_load(yaml.safe_dump(CORE["Deployment"]))
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_deployment_probes_security_and_drain_timing() -> None:
    spec = pod_spec(CORE["Deployment"])
    (container,) = spec["containers"]
    env = env_of(container)
    assert container["ports"][0]["containerPort"] == int(env["PORT"])
    assert container["startupProbe"]["httpGet"]["path"] == "/health/live"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    # Readiness over gRPC health, on the container's gRPC port (the same readiness as /health/ready).
    grpc_port = next(p for p in container["ports"] if p["name"] == "grpc")["containerPort"]
    assert grpc_port == int(env["GRPC_PORT"]) and container["readinessProbe"]["grpc"] == {"port": grpc_port}
    assert container["resources"]["requests"] and container["resources"]["limits"]

    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == IMAGE_UID
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    (tmp,) = container["volumeMounts"]
    assert tmp["mountPath"] == "/tmp"
    assert "emptyDir" in next(v for v in spec["volumes"] if v["name"] == tmp["name"])

    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pause = float(command[1])
    assert spec["terminationGracePeriodSeconds"] > pause + float(env["SHUTDOWN_GRACE_SECONDS"])


def test_workers_are_set_from_the_cpu_limit_in_whole_cpus() -> None:
    """WORKERS comes from limits.cpu through the downward API, which rounds up to whole CPUs (divisor 1): with a
    whole-number limit that is exactly one worker per CPU, as WORKERS=auto would count from the cgroup."""
    (container,) = pod_spec(CORE["Deployment"])["containers"]
    (workers,) = [e for e in container["env"] if e["name"] == "WORKERS"]
    reference = workers["valueFrom"]["resourceFieldRef"]
    assert reference["resource"] == "limits.cpu" and reference["divisor"] == "1"
    assert reference.get("containerName", container["name"]) == container["name"]
    limit = str(container["resources"]["limits"]["cpu"])
    assert re.fullmatch(r"[1-9][0-9]*", limit), f"limits.cpu {limit!r} is not a whole number of CPUs"
    amount, unit = re.fullmatch(r"(\d+)(Mi|Gi)", container["resources"]["limits"]["memory"]).groups()
    memory_mi = int(amount) * (1024 if unit == "Gi" else 1)
    assert memory_mi / int(limit) >= 256, "each worker needs a few hundred MB (RSS ~100-150 MB with the demo model)"


def test_service_hpa_and_pdb_point_at_the_deployment() -> None:
    deployment = CORE["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert CORE["Service"]["spec"]["selector"].items() <= labels.items()
    assert CORE["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    target = CORE["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    (metric,) = CORE["HorizontalPodAutoscaler"]["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert [p["targetPort"] for p in CORE["Service"]["spec"]["ports"]] == [p["name"] for p in container["ports"]]
    grpc = next(p for p in CORE["Service"]["spec"]["ports"] if p["name"] == "grpc")
    assert grpc["appProtocol"] == "kubernetes.io/h2c"
    assert container["image"] == f"sigmoid-serve:{VERSION}"


def test_kserve_objects_structure() -> None:
    runtime, service = KSERVE["ServingRuntime"], KSERVE["InferenceService"]
    assert runtime["apiVersion"] == "serving.kserve.io/v1alpha1"
    assert service["apiVersion"] == "serving.kserve.io/v1beta1"
    assert {f["name"] for f in runtime["spec"]["supportedModelFormats"]} == {"onnx"}
    assert runtime["spec"]["protocolVersions"] == ["v2", "grpc-v2"]
    model = service["spec"]["predictor"]["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert model["modelFormat"]["name"] == "onnx"
    assert model["protocolVersion"] in runtime["spec"]["protocolVersions"]
    assert model["storageUri"]

    (container,) = runtime["spec"]["containers"]
    env = env_of(container)
    assert env["MODEL_REPOSITORY"] == "/mnt/models"  # where KServe's storage initializer puts storageUri
    assert container["ports"][0]["containerPort"] == int(env["PORT"])
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": int(env["PORT"])}
    h2c = next(p for p in container["ports"] if p.get("name") == "h2c")
    assert h2c["containerPort"] == int(env["GRPC_PORT"])
    assert container["securityContext"]["runAsUser"] == IMAGE_UID


def test_kserve_container_spec_passes_the_core_pod_schema() -> None:
    """The CRD embeds core Container/Volume types: validate them inside a Pod with the strict schema."""
    spec = KSERVE["ServingRuntime"]["spec"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "sigmoid-serve-runtime-check"},
        "spec": {"containers": spec["containers"], "volumes": spec["volumes"]},
    }
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(pod, version, strict=True)
