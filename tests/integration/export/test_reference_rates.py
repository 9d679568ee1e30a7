"""Reference rates: written by calibrate and by the exporter (sample data with labels), read back by the service,
equal to the positive rates the service's own answers give on the same rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model_export import ExportError, export_model, read_metadata
from model_export.calibration.calibrate_command import calibrate_model
from model_export.demos.digits import write_validation
from model_export.describe import describe_model, format_description
from service.contract.reference_rates import METADATA_KEY, parse_reference_rates
from service.core.model import LoadedModel
from service.core.types import InferenceResult
from tests.support.server import ROOT

REPO = ROOT
DEMO = REPO / "models" / "digits" / "1" / "model.onnx"
RNG = np.random.default_rng(5)


def served_positive_rates(path: Path, inputs: dict[str, np.ndarray]) -> dict[str, float]:
    """What the service answers on these rows, as the share of rows each label was positive in."""
    model = LoadedModel.load("m", 1, path)
    probabilities, logits = model.run(inputs)
    result = InferenceResult("m", 1, model.labels, probabilities, logits, model.thresholds)
    return dict(zip(model.labels, result.multi_hot.mean(axis=0).tolist(), strict=True))


def test_calibrate_records_the_positive_rates_the_service_gives_at_the_new_thresholds(tmp_path: Path) -> None:
    data = tmp_path / "val.npz"
    write_validation(data)
    result = calibrate_model(DEMO, data, tmp_path / "calibrated.onnx")
    metadata = read_metadata(result.output)
    reference = parse_reference_rates(metadata.props, metadata.labels, metadata.thresholds)

    with np.load(data) as archive:
        pixels, truth = archive["pixels"], archive["y"]
    assert reference.positive_rates == pytest.approx(served_positive_rates(result.output, {"pixels": pixels}), abs=0)
    assert reference.true_rates == dict(zip(metadata.labels, truth.mean(axis=0).tolist(), strict=True))
    assert (reference.rows, reference.source, reference.data_file) == (450, "calibrate", "val.npz")
    assert result.thresholds != read_metadata(DEMO).thresholds  # counted at the new thresholds, not the old
    info = describe_model(result.output)  # `inspect` shows them
    assert info["reference_rates"]["positive_rates"] == reference.positive_rates
    assert "reference   positive rates on val.npz (450 rows): even " in format_description(info)


@pytest.mark.filterwarnings("ignore")
def test_export_with_labelled_sample_data_records_reference_rates(model_files, tmp_path: Path) -> None:  # noqa: ANN001
    x = RNG.normal(size=(40, 6)).astype(np.float32)
    y = RNG.integers(0, 2, size=(40, 3)).astype(np.uint8)
    labelled, unlabelled = tmp_path / "labelled.npz", tmp_path / "unlabelled.npz"
    np.savez(labelled, features=x, y=y)
    np.savez(unlabelled, features=x)
    thresholds = {"a": 0.3, "b": 0.5, "c": 0.6}

    report = export_model(
        model_files("mlp.keras"), tmp_path / "m.onnx", ["a", "b", "c"], thresholds, sample_data=labelled
    )
    reference = parse_reference_rates(report.metadata, report.labels, report.thresholds)
    assert reference.positive_rates == served_positive_rates(tmp_path / "m.onnx", {"features": x})
    assert reference.true_rates == dict(zip("abc", y.mean(axis=0).tolist(), strict=True))
    assert (reference.rows, reference.source) == (40, "export")
    assert read_metadata(tmp_path / "m.onnx").props[METADATA_KEY] == report.metadata[METADATA_KEY]

    plain = export_model(model_files("mlp.keras"), tmp_path / "n.onnx", ["a", "b", "c"], sample_data=unlabelled)
    assert METADATA_KEY not in plain.metadata  # no labels: nothing to call a reference


def test_export_refuses_labels_of_the_wrong_shape(model_files, tmp_path: Path) -> None:  # noqa: ANN001
    sample = tmp_path / "bad.npz"
    np.savez(sample, features=RNG.normal(size=(10, 6)), y=np.ones((10, 2)))
    with pytest.raises(ExportError, match=r"'y' in bad.npz has shape \[10, 2\]: it must be multi-hot"):
        export_model(model_files("mlp.keras"), tmp_path / "bad.onnx", ["a", "b", "c"], sample_data=sample)
    assert not (tmp_path / "bad.onnx").exists()


def test_rates_counted_at_other_thresholds_are_refused() -> None:
    entry = {"positive_rates": {"a": 0.2}, "thresholds": [0.5], "rows": 10}
    metadata = {METADATA_KEY: json.dumps(entry)}
    assert parse_reference_rates(metadata, ["a"], [np.float32(0.5)]).positive_rates == {"a": 0.2}
    with pytest.raises(ValueError, match=r"counted at thresholds \[0.5\], but the model's are \[0.25\]"):
        parse_reference_rates(metadata, ["a"], [0.25])
