"""Threshold calibration: the choice itself, its exact reproduction by the service's rule, and the command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model_export import ExportError
from model_export.calibration.calibrate_command import calibrate_model
from model_export.calibration.threshold_choice import Target, calibrate_label, curve, scores_at, threshold_between
from model_export.demos.digits import LABELS, write_validation
from model_export.metadata import read_metadata
from service.core.model import LoadedModel
from service.core.types import InferenceResult
from tests.support.onnx_checks import run_onnx
from tests.support.server import ROOT

REPO = ROOT
DEMO = REPO / "models" / "digits" / "1" / "model.onnx"


@pytest.fixture(scope="module")
def val_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("digits") / "val.npz"
    write_validation(path)
    return path


def _close_probabilities(rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities packed onto neighbouring float32 values, with ties: the hard case for thresholds."""
    base = np.float32(0.5)
    steps = rng.integers(-40, 40, size=rows)
    p = np.array([np.nextafter(base, np.float32(2 if s > 0 else 0), dtype=np.float32) for s in steps], np.float32)
    for i, s in enumerate(steps):  # walk |s| float32 steps away from 0.5
        for _ in range(abs(int(s)) - 1):
            p[i] = np.nextafter(p[i], np.float32(2 if s > 0 else 0), dtype=np.float32)
    truth = rng.random(rows) < (0.3 + 0.4 * (steps > 0))
    return p, truth


def test_curve_matches_brute_force_counts():
    rng = np.random.default_rng(0)
    p = rng.random(300).astype(np.float32).round(2)  # many ties
    truth = rng.random(300) < p
    points = curve(p, truth)
    assert np.all(np.diff(points.thresholds) < 0)
    for t, precision, recall in zip(points.thresholds, points.precision, points.recall, strict=True):
        scores = scores_at(p, truth, t)
        assert (scores.precision, scores.recall) == pytest.approx((precision, recall))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_threshold_selects_same_rows_as_the_chosen_point(seed):
    rng = np.random.default_rng(seed)
    p, truth = _close_probabilities(rng, 500)
    for target in (None, Target("precision", 0.6), Target("recall", 0.8)):
        choice = calibrate_label("x", p, truth, 0.5, target)
        if choice.method == "kept":
            continue
        assert choice.after == scores_at(p, truth, choice.threshold)
        index = int(np.flatnonzero(choice.curve.thresholds >= np.float32(choice.threshold))[-1])
        assert choice.after.precision == pytest.approx(choice.curve.precision[index])
        assert choice.after.recall == pytest.approx(choice.curve.recall[index])


def test_threshold_between_is_short_and_float32_exact():
    assert threshold_between(0.31, 0.62) == 0.5
    assert threshold_between(None, 0.2) == 0.1
    assert threshold_between(None, 0.0) == 0.0
    lo = np.float32(0.7)
    hi = np.nextafter(lo, np.float32(1), dtype=np.float32)  # adjacent: only hi itself fits
    assert np.float32(threshold_between(float(lo), float(hi))) == hi
    assert np.float32(json.loads(json.dumps(threshold_between(float(lo), float(hi))))) == hi


def test_targets_and_refusals_keep_the_current_threshold():
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3], np.float32)
    truth = np.array([1, 0, 1, 1, 0, 0], bool)
    by_f1 = calibrate_label("a", p, truth, 0.5)
    assert by_f1.method == "max_f1" and by_f1.after.f1 == pytest.approx(6 / 7)
    precise = calibrate_label("a", p, truth, 0.5, Target("precision", 1.0))
    assert precise.after.precision == 1.0 and 0.8 < precise.threshold <= 0.9
    complete = calibrate_label("a", p, truth, 0.5, Target("recall", 1.0))
    assert complete.after.recall == 1.0 and 0.4 < complete.threshold <= 0.6
    unreachable = calibrate_label("a", p, ~truth & (p < 0.5), 0.45, Target("precision", 1.0))
    assert unreachable.method == "kept" and unreachable.threshold == 0.45 and "not reachable" in unreachable.note
    empty = calibrate_label("a", p, np.zeros(6, bool), 0.35)
    assert empty.method == "kept" and empty.threshold == 0.35 and "no positive rows" in empty.note


def test_service_rule_reproduces_calibration_counts_exactly(val_npz, tmp_path):
    output = tmp_path / "digits" / "1" / "model.onnx"
    result = calibrate_model(DEMO, val_npz, output, target_precision={"prime": 0.99}, target_recall={"even": 0.99})
    with np.load(val_npz) as data:
        pixels, truth = data["pixels"], data["y"].astype(bool)
    served = LoadedModel.load("digits", 1, output)  # the service's own metadata parsing: JSON → float32
    assert served.thresholds.dtype == np.float32
    assert served.thresholds.tolist() == [float(np.float32(t)) for t in result.thresholds]
    probabilities, logits = run_onnx(output, {"pixels": pixels})
    multi_hot = InferenceResult("digits", 1, LABELS, probabilities, logits, served.thresholds).multi_hot.astype(bool)
    for j, choice in enumerate(result.labels):
        tp = int(np.sum(multi_hot[:, j] & truth[:, j]))
        fp = int(np.sum(multi_hot[:, j] & ~truth[:, j]))
        fn = int(np.sum(~multi_hot[:, j] & truth[:, j]))
        assert (tp, fp, fn) == (choice.after.tp, choice.after.fp, choice.after.fn), choice.label
    methods = {c.label: c.method for c in result.labels}
    assert methods["prime"] == "target_precision=0.99" and methods["even"] == "target_recall=0.99"
    assert result.labels[0].after.recall >= 0.99 and result.labels[1].after.precision >= 0.99


def test_metadata_and_new_version_folder(val_npz, tmp_path):
    source = tmp_path / "models" / "digits" / "3" / "model.onnx"
    source.parent.mkdir(parents=True)
    source.write_bytes(DEMO.read_bytes())
    (tmp_path / "models" / "digits" / "1").mkdir()
    result = calibrate_model(source, val_npz, output_version=True)
    assert result.output == tmp_path / "models" / "digits" / "4" / "model.onnx"
    assert sorted(p.name for p in source.parent.parent.iterdir()) == ["1", "3", "4"]  # no staging leftovers
    assert source.read_bytes() == DEMO.read_bytes()  # the input is never touched
    meta = read_metadata(result.output)
    assert meta.thresholds == result.thresholds and meta.labels == LABELS
    calibration = json.loads(meta.props["calibration"])
    assert calibration["method"] == "max_f1" and calibration["rows"] == 450
    assert calibration["data_file"] == "val.npz" and len(calibration["data_sha256"]) == 64
    assert calibration["date"].endswith("Z") and set(calibration["labels"]) == set(LABELS)
    assert meta.props["head"] == "appended_sigmoid"  # provenance carried over
    assert all(c.after.f1 >= c.before.f1 for c in result.labels)  # F1-optimal on this data, by construction


def test_refusals(val_npz, tmp_path):
    with pytest.raises(ExportError, match="never edits a model in place"):
        calibrate_model(DEMO, val_npz, DEMO)
    with pytest.raises(ExportError, match="exactly one of"):
        calibrate_model(DEMO, val_npz)
    with pytest.raises(ExportError, match="not in a version folder"):
        flat = tmp_path / "model.onnx"
        flat.write_bytes(DEMO.read_bytes())
        calibrate_model(flat, val_npz, output_version=True)
    bad = tmp_path / "bad.npz"
    np.savez(bad, pixels=np.zeros((3, 64), np.float32))
    with pytest.raises(ExportError, match="lacks array"):
        calibrate_model(DEMO, bad, tmp_path / "o.onnx")
    np.savez(bad, pixels=np.zeros((3, 64), np.float32), y=np.zeros((3, 4)))
    with pytest.raises(ExportError, match=r"multi-hot 0/1 of shape \[rows, 5\]"):
        calibrate_model(DEMO, bad, tmp_path / "o.onnx")
    with pytest.raises(ExportError, match="unknown label"):
        calibrate_model(DEMO, val_npz, tmp_path / "o.onnx", target_precision={"odd": 0.9})
    with pytest.raises(ExportError, match="both a precision and a recall"):
        calibrate_model(DEMO, val_npz, tmp_path / "o.onnx", target_precision=0.9, target_recall={"even": 0.9})
    assert not (tmp_path / "o.onnx").exists()


def test_report_is_self_contained(val_npz, tmp_path):
    report = tmp_path / "report.html"
    calibrate_model(DEMO, val_npz, tmp_path / "m.onnx", report=report, target_recall={"prime": 0.999})
    page = report.read_text()
    assert page.count("<svg") == len(LABELS) and page.count("<polyline") > len(LABELS)
    assert "http://" not in page and "https://" not in page and "<script" not in page
    for label in LABELS:
        assert f"<td>{label}</td>" in page
    assert "target_recall=0.999" in page


@pytest.mark.smoke
def test_cli_calibrates_without_tensorflow(val_npz, tmp_path):
    output = tmp_path / "calibrated.onnx"
    code = (
        "import sys; from model_export.cli import main; "
        f"rc = main(['calibrate', {str(DEMO)!r}, '--data', {str(val_npz)!r}, '-o', {str(output)!r}, "
        "'--target-precision', 'even=0.99,prime=0.98', '--report', " + repr(str(tmp_path / "r.html")) + "]); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow was imported'; "
        "sys.exit(rc)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "0.5 ->" in result.stdout and "target_precision=0.99" in result.stdout and "max_f1" in result.stdout
    assert output.exists() and (tmp_path / "r.html").exists()
    again = subprocess.run(
        [sys.executable, "-m", "model_export", "calibrate", str(DEMO), "--data", str(val_npz), "-o", str(DEMO)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert again.returncode == 2 and "in place" in again.stderr and "Traceback" not in again.stderr


def test_a_kept_threshold_is_written_back_as_stored(val_npz, tmp_path):
    """Calibrating a calibrated model again on rows without positives keeps each threshold as the same decimal."""
    first = calibrate_model(DEMO, val_npz, tmp_path / "first.onnx")
    stored = read_metadata(first.output).thresholds
    assert any(t != float(np.float32(t)) for t in stored)  # decimals that float32 does not hold exactly
    with np.load(val_npz) as data:
        no_positives = tmp_path / "none.npz"
        np.savez(no_positives, pixels=data["pixels"], y=np.zeros_like(data["y"]))
    again = calibrate_model(first.output, no_positives, tmp_path / "again.onnx")
    assert all(c.method == "kept" for c in again.labels)
    assert read_metadata(again.output).thresholds == stored
