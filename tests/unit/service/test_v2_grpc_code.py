"""The committed gRPC code is what the committed .proto files generate, and the messages are the published
protocol's: every field this server defines has the number and type of the same field in tritonclient's copy of
Triton's grpc_service.proto / model_config.proto (an independent source)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import tritonclient.grpc as triton
from google.protobuf.descriptor import Descriptor

from tests.support.server import ROOT

MESSAGES = ROOT / "service" / "protocols" / "v2" / "messages"
PROTOS = ["model_config.proto", "grpc_service.proto"]
GENERATED = ["model_config_pb2.py", "grpc_service_pb2.py", "grpc_service_pb2_grpc.py"]

# Run apart: the server's messages and tritonclient's both define `inference.*`, which one process cannot hold twice.
DESCRIBE_SERVER_MESSAGES = """
import json
from service.protocols.v2.messages import grpc_service_pb2, model_config_pb2

def fields(descriptor, prefix=""):
    found = {}
    for message in descriptor.message_types_by_name.values() if prefix == "" else descriptor.nested_types:
        name = prefix + message.name
        found[name] = {f.name: [f.number, f.type, f.label] for f in message.fields}
        found.update(fields(message, name + "."))
    return found

described = {**fields(model_config_pb2.DESCRIPTOR), **fields(grpc_service_pb2.DESCRIPTOR)}
service = grpc_service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
print(json.dumps({"messages": described, "service": service.full_name,
                  "methods": {m.name: [m.input_type.name, m.output_type.name] for m in service.methods}}))
"""


def test_the_committed_code_is_what_the_protos_generate(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "grpc_tools.protoc", "-I", str(ROOT), f"--python_out={tmp_path}"]
    command += [f"--grpc_python_out={tmp_path}", *(str(MESSAGES / proto) for proto in PROTOS)]
    subprocess.run(command, check=True, cwd=ROOT)
    fresh = tmp_path / "service" / "protocols" / "v2" / "messages"
    for name in GENERATED:
        assert (fresh / name).read_text() == (MESSAGES / name).read_text(), f"{name} is stale: run make grpc-code"


def triton_fields(descriptor: Descriptor, name: str) -> dict[str, list[int]]:
    for part in name.split(".")[1:]:
        descriptor = descriptor.nested_types_by_name[part]
    return {f.name: [f.number, f.type, f.label] for f in descriptor.fields}


def test_every_field_matches_the_published_protocol() -> None:
    done = subprocess.run([sys.executable, "-c", DESCRIBE_SERVER_MESSAGES], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    server = json.loads(done.stdout)
    assert server["service"] == "inference.GRPCInferenceService"
    published = {**triton.model_config_pb2.DESCRIPTOR.message_types_by_name}
    published.update(triton.service_pb2.DESCRIPTOR.message_types_by_name)
    checked = 0
    for name, fields in server["messages"].items():
        if name == "ModelMetadataResponse.PropertiesEntry":
            continue  # the map entry of KServe's `properties` (field 6), which Triton's message does not have
        theirs = triton_fields(published[name.split(".")[0]], name)
        for field, spec in fields.items():
            if name == "ModelMetadataResponse" and field == "properties":
                continue  # KServe's field 6, which Triton's message does not have
            assert theirs.get(field) == spec, f"{name}.{field}: {spec} here, {theirs.get(field)} in Triton's"
            checked += 1
    assert checked > 100
    triton_service = triton.service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    for method, (request, response) in server["methods"].items():
        theirs = triton_service.methods_by_name[method]
        assert [theirs.input_type.name, theirs.output_type.name] == [request, response]
