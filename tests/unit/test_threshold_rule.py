"""One rule for a model file without a 'thresholds' entry (service/contract/labels.py): every label at 0.5, said in a
note. The server, `inspect`, `calibrate` and `publish` all read such a file the same way; a broken entry is refused by
all of them alike."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from model_export import ExportError, calibrate_model, describe_model, read_metadata
from model_export.repository import served_version
from service.contract.labels import NO_THRESHOLDS_NOTE
from service.core.model import LoadedModel, ModelLoadError
from tests.support.onnx_models import linear_model
from tests.support.server import ROOT


def _rewrite_thresholds(path: Path, value: str | None) -> None:
    model = onnx.load(str(path))
    kept = [p for p in model.metadata_props if p.key != "thresholds"]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    if value is not None:
        model.metadata_props.append(onnx.StringStringEntryProto(key="thresholds", value=value))
    onnx.save(model, str(path))


@pytest.fixture
def no_thresholds(tmp_path: Path) -> Path:
    path = tmp_path / "repo" / "m" / "1" / "model.onnx"
    linear_model(path, seed=3)
    _rewrite_thresholds(path, None)
    return path


def test_the_server_serves_it_at_one_half_and_says_so(no_thresholds: Path) -> None:
    model = LoadedModel.load("m", 1, no_thresholds)
    assert model.thresholds.tolist() == [0.5, 0.5, 0.5]
    assert NO_THRESHOLDS_NOTE in model.warnings


def test_inspect_reads_it_the_same_way(no_thresholds: Path) -> None:
    assert read_metadata(no_thresholds).thresholds == [0.5, 0.5, 0.5]
    info = describe_model(no_thresholds)
    assert info["thresholds"] == [0.5, 0.5, 0.5] and info["thresholds_note"] == NO_THRESHOLDS_NOTE
    shown = subprocess.run(
        [sys.executable, "-m", "model_export", "inspect", str(no_thresholds)],
        capture_output=True, text=True, cwd=ROOT, check=True,
    ).stdout  # fmt: skip
    assert NO_THRESHOLDS_NOTE in shown


def test_calibrate_starts_from_one_half(no_thresholds: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 4)).astype(np.float32)
    truth = (rng.random((200, 3)) < 0.4).astype(np.int64)
    np.savez(tmp_path / "val.npz", features=features, y=truth)
    result = calibrate_model(no_thresholds, tmp_path / "val.npz", tmp_path / "calibrated.onnx")
    assert [label.threshold_before for label in result.labels] == [0.5, 0.5, 0.5]
    assert len(read_metadata(tmp_path / "calibrated.onnx").thresholds) == 3


def test_publish_sees_the_version_the_server_serves(no_thresholds: Path) -> None:
    served = served_version(no_thresholds.parent.parent.parent, "m")
    assert served is not None and served.version == 1 and served.metadata.thresholds == [0.5, 0.5, 0.5]


@pytest.mark.parametrize("value", ["[0.5]", "[0.5, 0.5, 1.5]", '"high"', "not json"])
def test_a_broken_entry_is_refused_by_both_sides(no_thresholds: Path, value: str) -> None:
    _rewrite_thresholds(no_thresholds, value)
    with pytest.raises(ModelLoadError, match="thresholds"):
        LoadedModel.load("m", 1, no_thresholds)
    with pytest.raises(ExportError, match="thresholds"):
        read_metadata(no_thresholds)
    assert served_version(no_thresholds.parent.parent.parent, "m") is None
