"""publish_version(): a real Keras model exported, calibrated and written as the next version of a repository."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model_export import read_metadata
from model_export.errors import ExportError
from model_export.publish import asked_method, publish_version

LABELS = ["a", "b", "c"]


@pytest.fixture(scope="module")
def val_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("publish") / "val.npz"
    features = rng.normal(size=(300, 6)).astype(np.float32)
    np.savez(path, features=features, y=(features[:, :3] + rng.normal(size=(300, 3)) > 0).astype(np.float32))
    return path


def methods(model: Path) -> dict[str, str]:
    calibration = json.loads(read_metadata(model).props["calibration"])
    return {label: asked_method(entry) for label, entry in calibration["labels"].items()}


def folder_names(repository: Path) -> list[str]:
    return sorted(path.name for path in (repository / "m").iterdir())


def test_the_next_version_keeps_the_served_versions_calibration_methods(model_files, val_npz, tmp_path) -> None:
    source, repository = model_files("mlp.keras"), tmp_path / "repo"
    first = publish_version(source, repository, "m", LABELS, val_npz, target_recall={"b": 0.9})
    assert first.output == repository / "m" / "1" / "model.onnx" and first.served is None
    assert methods(first.output) == {"a": "max_f1", "b": "target_recall=0.9", "c": "max_f1"}

    second = publish_version(source, repository, "m", LABELS, val_npz)  # a retrained model, no target given again
    assert second.version == 2 and second.served.version == 1
    assert methods(second.output) == {"a": "max_f1", "b": "target_recall=0.9", "c": "max_f1"}
    assert read_metadata(second.output).thresholds == read_metadata(first.output).thresholds  # same model, same rows
    printed = second.format()
    assert "calibration methods carried over from version 1: max_f1: a, c; target_recall=0.9: b" in printed
    assert "version 1 (served) -> version 2, each at its own thresholds" in printed
    assert [row.label for row in second.rows] == LABELS
    assert folder_names(repository) == ["1", "2"]  # the dot-named staging folder is gone


def test_publishing_without_data_after_a_calibrated_version_warns(model_files, val_npz, tmp_path) -> None:
    source, repository = model_files("mlp.keras"), tmp_path / "repo"
    publish_version(source, repository, "m", LABELS, val_npz, target_precision=0.6)
    uncalibrated = publish_version(source, repository, "m", LABELS)
    assert read_metadata(uncalibrated.output).thresholds == [0.5, 0.5, 0.5]
    (warning,) = uncalibrated.warnings
    assert warning.startswith(
        "version 1 (served until now) has thresholds calibrated on val.npz (target_precision=0.6: a, b, c); "
        "version 2 has the default thresholds (0.5 for every label), not chosen for this model. Calibrate it: "
    )


def test_a_refused_publish_writes_nothing(model_files, val_npz, tmp_path) -> None:
    source, repository = model_files("mlp.keras"), tmp_path / "repo"
    publish_version(source, repository, "m", LABELS)
    with pytest.raises(ExportError, match="4 labels"):
        publish_version(source, repository, "m", [*LABELS, "d"], val_npz)
    assert folder_names(repository) == ["1"]
