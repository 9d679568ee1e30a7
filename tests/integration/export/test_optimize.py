"""`python -m model_export optimize` on a trained CNN: the per-label proof, the refusals, and serving the result.

Speed is not what these tests check (bench/ measures it): the main runs pass `--min-speedup 0`, so whether int8
pays on this small CNN on this machine cannot decide them. The speed gate has its own test with an unreachable
`--min-speedup`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import onnx
import pytest

from model_export.calibration.threshold_choice import Target, calibrate_label
from model_export.describe import describe_model, format_description
from model_export.metadata import read_metadata
from model_export.optimize.optimize_command import optimize_model
from tests.support.onnx_checks import run_onnx
from tests.support.server import ROOT, RunningServer
from tests.support.trained_cnn import NAME

REPO = ROOT


def optimize_cli(*args: str | Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "model_export", "optimize", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600)


def repository_with(model: Path, root: Path) -> Path:
    """root/NAME/1/model.onnx, a copy of `model`; returns that path."""
    target = root / NAME / "1" / "model.onnx"
    target.parent.mkdir(parents=True)
    shutil.copy(model, target)
    return target


def validation_rows(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path) as data:
        return data["image"], data["y"].astype(bool)


@pytest.fixture(scope="module")
def int8_run(trained_cnn, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One CLI run of `optimize --int8 --output-version` into a fresh repository, shared by the checks below."""
    root = tmp_path_factory.mktemp("int8") / "models"
    source = repository_with(trained_cnn.model, root)
    report = root.parent / "report.html"
    args = (source, "--data", trained_cnn.validation, "--output-version", "--int8", "--min-speedup", "0")
    completed = optimize_cli(*args, "--report", report)
    assert completed.returncode == 0, completed.stderr
    return {"root": root, "source": source, "output": root / NAME / "2" / "model.onnx", "cli": completed,
            "report": report}  # fmt: skip


def test_int8_keeps_every_label_within_the_f1_bound_and_the_interface(int8_run, trained_cnn):
    output, source = int8_run["output"], int8_run["source"]
    stdout = int8_run["cli"].stdout
    assert "per label (float32 at its thresholds" in stdout and f"wrote      {output}" in stdout
    entry = json.loads(read_metadata(output).props["optimization"])
    assert entry["variant"] == "int8" and entry["candidate"].startswith("int8 static")
    assert set(entry["labels"]) == set(read_metadata(source).labels)
    for label, scores in entry["labels"].items():
        assert scores["before"]["f1"] - scores["after"]["f1"] <= 0.01 + 1e-9, label
        assert scores["f1_drop"] <= 0.01 + 1e-9
    assert entry["deviation"]["max_abs"] > 0  # it really is another model
    assert entry["source_model_sha256"] and entry["onnxruntime_version"] and entry["machine"]
    assert format_description(describe_model(output)).splitlines()[-1].startswith("optimization int8 (int8 static")
    # What the service relies on: input names, outputs in order, the appended Sigmoid, all the old metadata.
    old, new = onnx.load(str(source)), onnx.load(str(output))
    assert [i.name for i in new.graph.input] == [i.name for i in old.graph.input] == ["image"]
    assert [o.name for o in new.graph.output] == ["probabilities", "logits"]
    assert [n.op_type for n in new.graph.node if "probabilities" in n.output] == ["Sigmoid"]
    assert any(n.op_type in ("QuantizeLinear", "QLinearConv") for n in new.graph.node)
    old_props = {p.key: p.value for p in old.metadata_props}
    new_props = {p.key: p.value for p in new.metadata_props}
    kept = set(old_props) - {"thresholds", "calibration"}
    assert {k: new_props[k] for k in kept} == {k: old_props[k] for k in kept}
    # The recorded proof is what the model does: recompute the deviation offline.
    images, _ = validation_rows(trained_cnn.validation)
    before, _ = run_onnx(source, {"image": images})
    after, _ = run_onnx(output, {"image": images})
    assert float(np.abs(after - before).max()) == pytest.approx(entry["deviation"]["max_abs"], rel=1e-2)


def test_thresholds_are_rechosen_with_the_recorded_methods(int8_run, trained_cnn):
    output, source = int8_run["output"], int8_run["source"]
    old, new = read_metadata(source), read_metadata(output)
    recorded = json.loads(old.props["calibration"])["labels"]
    assert recorded["even"]["method"] == "target_precision=0.97"
    images, truth = validation_rows(trained_cnn.validation)
    probabilities, _ = run_onnx(output, {"image": images})
    for j, label in enumerate(new.labels):
        target = Target.from_method(recorded[label]["method"])
        expected = calibrate_label(label, probabilities[:, j], truth[:, j], old.thresholds[j], target)
        assert new.thresholds[j] == expected.threshold, label
    assert new.thresholds != old.thresholds  # re-chosen on the int8 model's own probabilities
    calibration = json.loads(new.props["calibration"])
    assert calibration["labels"]["even"]["method"] == "target_precision=0.97"
    assert calibration["labels"]["even"]["precision"] >= 0.97
    assert "re-chosen" in json.loads(new.props["optimization"])["thresholds"]


def test_the_service_serves_it_within_the_documented_deviation(int8_run, trained_cnn):
    """A real server on the repository serves version 2 (int8); its answers differ from the float32 model's
    (version 1, run in ONNX Runtime here) exactly as far as the metadata says."""
    entry = json.loads(read_metadata(int8_run["output"]).props["optimization"])
    images, _ = validation_rows(trained_cnn.validation)
    float_probabilities, _ = run_onnx(int8_run["source"], {"image": images})
    float_multi_hot = float_probabilities >= np.array(read_metadata(int8_run["source"]).thresholds, np.float32)
    server = RunningServer({"MODEL_REPOSITORY": str(int8_run["root"]), "MODEL_POLL_SECONDS": "0"})
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            info = client.get(f"/models/{NAME}").json()
            assert info["version"] == 2 and info["optimization"]["variant"] == "int8"  # shown as a field of its own
            probabilities, multi_hot = [], []
            for start in range(0, len(images), 64):
                body = {"instances": images[start : start + 64].tolist()}
                response = client.post(f"/models/{NAME}/predict", json=body)
                assert response.status_code == 200, response.text
                assert response.json()["model_version"] == 2
                predictions = response.json()["predictions"]
                probabilities += [p["probabilities"] for p in predictions]
                multi_hot += [p["multi_hot"] for p in predictions]
    finally:
        server.stop()
    deviation = np.abs(np.array(probabilities) - float_probabilities).max()
    assert 0 < deviation <= entry["deviation"]["max_abs"] * (1 + 1e-2) + 1e-7
    changed = int(np.any(np.array(multi_hot, bool) != float_multi_hot, axis=1).sum())
    assert changed == entry["deviation"]["changed_rows"]


def test_report_draws_both_models_curves(int8_run):
    page = int8_run["report"].read_text()
    labels = json.loads(read_metadata(int8_run["output"]).props["labels"])
    assert page.count("<svg") == len(labels)
    assert page.count('stroke="#8c959f" stroke-width="1.8"') == len(labels)  # float32 curve per label
    assert page.count('stroke="#0969da" stroke-width="1.8"') == len(labels)  # int8 curve per label
    assert "float32 at its threshold" in page and "<script" not in page and "https://" not in page


def test_keep_thresholds_keeps_them(trained_cnn, tmp_path):
    source = repository_with(trained_cnn.model, tmp_path / "models")
    output = tmp_path / "kept.onnx"
    optimize_model(source, trained_cnn.validation, output, keep_thresholds=True, min_speedup=0)
    old, new = read_metadata(source), read_metadata(output)
    assert new.thresholds == old.thresholds
    assert new.props["calibration"] == old.props["calibration"]
    assert json.loads(new.props["optimization"])["thresholds"] == "thresholds kept (--keep-thresholds)"


def test_graph_only_keeps_probabilities_within_1e5(trained_cnn, tmp_path):
    output = tmp_path / "graph.onnx"
    # Speed is not what this test judges (a loaded machine times graph-only below float32): min_speedup=0.
    result = optimize_model(trained_cnn.model, trained_cnn.validation, output, variant="graph-only", min_speedup=0)
    images, _ = validation_rows(trained_cnn.validation)
    before, logits_before = run_onnx(trained_cnn.model, {"image": images})
    after, logits_after = run_onnx(output, {"image": images})
    assert np.abs(after - before).max() <= 1e-5 and np.abs(logits_after - logits_before).max() <= 1e-4
    assert result.chosen.table.max_abs_deviation <= 1e-5
    assert read_metadata(output).labels == read_metadata(trained_cnn.model).labels


def test_a_hurt_model_is_refused_with_the_table(trained_cnn, tmp_path):
    """Calibrated on two black images, every activation range collapses: F1 falls, nothing is written."""
    images, _ = validation_rows(trained_cnn.validation)
    tiny = tmp_path / "tiny.npz"
    np.savez(tiny, image=np.zeros_like(images[:2]))
    output = tmp_path / "hurt.onnx"
    args = ("--data", trained_cnn.validation, "-o", output, "--int8", "--min-speedup", "0", "--calibration-data", tiny)
    completed = optimize_cli(trained_cnn.model, *args)
    assert completed.returncode == 2
    assert "per label (float32 at its thresholds" in completed.stdout
    for label in read_metadata(trained_cnn.model).labels:
        assert f"\n{label} " in completed.stdout
    assert "F1 dropped by more than 0.01" in completed.stdout
    error_lines = completed.stderr.strip().splitlines()
    assert len(error_lines) == 1 and error_lines[0].startswith("error: refused: no int8 candidate passes; the best")
    assert "--force writes it anyway" in error_lines[0]
    assert not output.exists()


def test_a_label_without_positives_is_kept_and_said(trained_cnn, tmp_path):
    images, truth = validation_rows(trained_cnn.validation)
    truth[:, 1] = False  # no 'prime' rows at all
    data = tmp_path / "no_prime.npz"
    np.savez(data, image=images, y=truth.astype("uint8"))
    output = tmp_path / "out.onnx"
    completed = optimize_cli(trained_cnn.model, "--data", data, "-o", output, "--int8", "--min-speedup", "0")
    assert completed.returncode == 0, completed.stderr
    assert "no positive rows for 'prime'" in completed.stdout
    assert read_metadata(output).thresholds[1] == read_metadata(trained_cnn.model).thresholds[1]


def test_refusals_say_why_in_one_line(trained_cnn, tmp_path):
    val = trained_cnn.validation
    unlabelled = onnx.load(str(trained_cnn.model))
    del unlabelled.metadata_props[:]
    foreign = tmp_path / "foreign.onnx"
    onnx.save(unlabelled, str(foreign))
    images, truth = validation_rows(val)
    small = tmp_path / "small.npz"
    np.savez(small, image=images[:, ::2, ::2], y=truth.astype("uint8"))
    int8 = tmp_path / "int8.onnx"
    optimize_model(trained_cnn.model, val, int8, keep_thresholds=True, force=True)
    cases = {
        "the metadata has no 'labels' entry (a JSON list of label names)": (foreign, "--data", val),
        "array 'image' in small.npz has shape [450, 8, 8, 1]; the model takes ['rows', 16, 16, 1]": (
            trained_cnn.model, "--data", small,
        ),
        "is already optimized (int8); optimize its float32 source instead": (int8, "--data", val),
        "optimize never edits a model in place": (trained_cnn.model, "--data", val, "-o", trained_cnn.model),
        "slower than 50x float32": (trained_cnn.model, "--data", val, "--min-speedup", "50"),
    }  # fmt: skip
    for expected, args in cases.items():
        target = ("-o", tmp_path / "never.onnx") if "-o" not in args else ()
        completed = optimize_cli(*args, *target, "--int8")
        lines = completed.stderr.strip().splitlines()
        assert completed.returncode == 2, (expected, completed.stderr)
        assert len(lines) == 1 and expected in lines[0], (expected, completed.stderr)
        assert "Traceback" not in completed.stderr
    assert not (tmp_path / "never.onnx").exists()


def test_fp16_is_written_only_when_forced_past_its_problems_and_keeps_float32_edges(trained_cnn, tmp_path):
    output = tmp_path / "fp16.onnx"
    result = optimize_model(trained_cnn.model, trained_cnn.validation, output, variant="float16", force=True)
    entry = json.loads(read_metadata(output).props["optimization"])
    assert entry["variant"] == "float16" and entry["forced_past"] == result.chosen.problems
    model = onnx.load(str(output))
    float32 = onnx.TensorProto.FLOAT
    assert [v.type.tensor_type.elem_type for v in (*model.graph.input, *model.graph.output)] == [float32] * 3
    assert any(init.data_type == onnx.TensorProto.FLOAT16 for init in model.graph.initializer)
    assert result.chosen.table.max_abs_deviation < 1e-2
