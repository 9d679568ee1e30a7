"""Every CLI error is one line on stderr and exit status 2, never a traceback: each case a real `python -m
model_export` run. Folders the user may not write are made so for real: root keeps file permissions binding only
without its override capabilities, so those runs go through `setpriv` (tests/support/server.py's `unprivileged`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from model_export.demos.digits import LABELS
from tests.support.server import ROOT, unprivileged

REPO = ROOT
DEMO = REPO / "models" / "digits" / "1" / "model.onnx"
RNG = np.random.default_rng(0)


def run_cli(*args: str, cwd: Path = REPO, prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [*(prefix or []), sys.executable, "-m", "model_export", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The message of a refused run, after checking it is one line, exit 2, and no traceback."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    return errors[0].removeprefix("error: ")


@pytest.fixture
def locked(tmp_path: Path) -> Path:
    """A folder this user may read but not write."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


def npz(path: Path, pixels: np.ndarray, y: np.ndarray) -> Path:
    np.savez(path, pixels=pixels, y=y)
    return path


def pixels(rows: int = 12) -> np.ndarray:
    return RNG.integers(0, 17, size=(rows, 64)).astype(np.float32)


def multi_hot(rows: int = 12) -> np.ndarray:
    return RNG.integers(0, 2, size=(rows, len(LABELS))).astype(np.float32)


def with_nan(rows: list[int]) -> np.ndarray:
    values = pixels()
    values[rows, 5] = np.nan
    return values


def case_file_in_the_path(tmp: Path) -> tuple[list[str], str]:
    (tmp / "x").write_text("a file")
    return ["some.keras", "--output", str(tmp / "x" / "1" / "model.onnx"), "--labels", "a"], f"{tmp / 'x'} is a file"


def case_trailing_slash(tmp: Path) -> tuple[list[str], str]:
    return ["some.keras", "--output", f"{tmp / 'new'}/", "--labels", "a"], "is a folder: give the file to write"


def case_calibrate_nan_rows(tmp: Path) -> tuple[list[str], str]:
    data = npz(tmp / "val.npz", with_nan([3, 7]), multi_hot())
    expected = "array 'pixels' in val.npz: NaN or infinite values in rows 3, 7 (counting from 0); remove or fill"
    return ["calibrate", str(DEMO), "--data", str(data), "-o", str(tmp / "o.onnx")], expected


def case_calibrate_all_nan(tmp: Path) -> tuple[list[str], str]:
    data = npz(tmp / "val.npz", np.full((12, 64), np.nan, np.float32), multi_hot())
    expected = "array 'pixels' in val.npz: every row holds NaN or infinite values"
    return ["calibrate", str(DEMO), "--data", str(data), "-o", str(tmp / "o.onnx")], expected


def case_calibrate_labels_of_two(tmp: Path) -> tuple[list[str], str]:
    y = multi_hot()
    y[4, 1] = 2
    data = npz(tmp / "val.npz", pixels(), y)
    expected = "'y' in val.npz must hold only 0 and 1 (one column per label); it also holds 2 in row 4 (counting"
    return ["calibrate", str(DEMO), "--data", str(data), "-o", str(tmp / "o.onnx")], expected


def case_calibrate_labels_as_text(tmp: Path) -> tuple[list[str], str]:
    y = np.array([["cat", "dog", "cat", "cat", "dog"]] * 12)
    data = npz(tmp / "val.npz", pixels(), y)
    return ["calibrate", str(DEMO), "--data", str(data), "-o", str(tmp / "o.onnx")], 'holds text (such as "cat")'


def case_calibrate_jsonl_nan(tmp: Path) -> tuple[list[str], str]:
    rows = [{"pixels": [1.0] * 64, "labels": ["even"]}, {"pixels": [float("nan")] * 64, "labels": []}]
    (tmp / "val.jsonl").write_text("\n".join(json.dumps(row) for row in rows))
    expected = "val.jsonl, input 'pixels': NaN or infinite values in line 2; remove"
    return ["calibrate", str(DEMO), "--data", str(tmp / "val.jsonl"), "-o", str(tmp / "o.onnx")], expected


def case_calibrate_output_in_a_file(tmp: Path) -> tuple[list[str], str]:
    data = npz(tmp / "val.npz", pixels(), multi_hot())
    (tmp / "x").write_text("a file")
    args = ["calibrate", str(DEMO), "--data", str(data), "-o", str(tmp / "x" / "1" / "model.onnx")]
    return args, f"{tmp / 'x'} is a file, not a folder"


def case_optimize_nan_rows(tmp: Path) -> tuple[list[str], str]:
    data = npz(tmp / "val.npz", with_nan([0]), multi_hot())
    args = ["optimize", str(DEMO), "--data", str(data), "-o", str(tmp / "o.onnx"), "--int8"]
    return args, "array 'pixels' in val.npz: NaN or infinite values in row 0 (counting from 0)"


def case_optimize_output_folder(tmp: Path) -> tuple[list[str], str]:
    data = npz(tmp / "val.npz", pixels(), multi_hot())
    return ["optimize", str(DEMO), "--data", str(data), "-o", f"{tmp}/", "--int8"], "is a folder"


def case_inspect_a_folder(tmp: Path) -> tuple[list[str], str]:
    return ["inspect", str(tmp)], f"cannot read {tmp}: Is a directory"


def case_inspect_not_onnx(tmp: Path) -> tuple[list[str], str]:
    (tmp / "notes.onnx").write_text("not a model")
    return ["inspect", str(tmp / "notes.onnx")], "is not an ONNX model (it does not parse as one)"


def case_publish_bad_name(tmp: Path) -> tuple[list[str], str]:
    return ["publish", "some.keras", "--repository", str(tmp), "--name", "../up", "--labels", "a"], "cannot be served"


def case_publish_repository_is_a_file(tmp: Path) -> tuple[list[str], str]:
    (tmp / "repo").write_text("a file")
    args = ["publish", "some.keras", "--repository", str(tmp / "repo"), "--name", "m", "--labels", "a"]
    return args, f"{tmp / 'repo'} is a file, not a folder"


def case_publish_target_without_data(tmp: Path) -> tuple[list[str], str]:
    args = ["publish", "s.keras", "--repository", str(tmp), "--name", "m", "--labels", "a", "--target-recall", "0.9"]
    return args, "choose thresholds on --data: give --data too"


CASES: dict[str, Callable[[Path], tuple[list[str], str]]] = {
    "export: --output below a file": case_file_in_the_path,
    "export: --output x/": case_trailing_slash,
    "calibrate: NaN rows": case_calibrate_nan_rows,
    "calibrate: all-NaN features": case_calibrate_all_nan,
    "calibrate: y holding 2": case_calibrate_labels_of_two,
    "calibrate: y holding strings": case_calibrate_labels_as_text,
    "calibrate: a NaN line in JSONL": case_calibrate_jsonl_nan,
    "calibrate: -o below a file": case_calibrate_output_in_a_file,
    "optimize: NaN rows": case_optimize_nan_rows,
    "optimize: -o a folder": case_optimize_output_folder,
    "inspect: a folder": case_inspect_a_folder,
    "inspect: not an ONNX file": case_inspect_not_onnx,
    "publish: a name that is not a folder name": case_publish_bad_name,
    "publish: a repository that is a file": case_publish_repository_is_a_file,
    "publish: a target without data": case_publish_target_without_data,
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_error_is_one_line_and_exit_2(case: Callable[[Path], tuple[list[str], str]], tmp_path: Path) -> None:
    args, expected = case(tmp_path)
    message = one_line_error(run_cli(*args))
    assert expected in message, message
    assert not (tmp_path / "o.onnx").exists()


def test_output_x_slash_writes_no_file_named_x(model_files, tmp_path: Path) -> None:  # noqa: ANN001
    source = str(model_files("mlp.keras"))  # a model that exports: only the path can stop it
    message = one_line_error(run_cli(source, "--output", f"{tmp_path / 'x'}/", "--labels", "a,b,c"))
    assert message.startswith(f"--output {tmp_path / 'x'}/ is a folder: give the file to write"), message
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("command", "what"),
    [
        (["some.keras", "--labels", "a", "-o", "{locked}/m/1/model.onnx"], "cannot write {locked}/m/1/model.onnx"),
        (["calibrate", str(DEMO), "--data", "{data}", "-o", "{locked}/new.onnx"], "cannot write {locked}/new.onnx"),
        (["publish", "s.keras", "--repository", "{locked}", "--name", "m", "--labels", "a"], "cannot publish into"),
    ],
    ids=["export", "calibrate -o", "publish"],
)
def test_a_folder_this_user_may_not_write(command: list[str], what: str, locked: Path, tmp_path: Path) -> None:
    data = npz(tmp_path / "val.npz", pixels(), multi_hot())
    args = [arg.format(locked=locked, data=data) for arg in command]
    message = one_line_error(run_cli(*args, prefix=unprivileged()))
    assert message.startswith(what.format(locked=locked)), message
    assert f"this user (uid {os.geteuid()}) may not write in {locked}" in message, message
    assert list(locked.iterdir()) == []


def test_calibrate_output_version_in_a_folder_this_user_may_not_write(tmp_path: Path) -> None:
    model_folder = tmp_path / "digits"
    (model_folder / "1").mkdir(parents=True)
    (model_folder / "1" / "model.onnx").write_bytes(DEMO.read_bytes())
    data = npz(tmp_path / "val.npz", pixels(), multi_hot())
    model_folder.chmod(0o555)
    try:
        result = run_cli(
            "calibrate", str(model_folder / "1" / "model.onnx"), "--data", str(data), "--output-version",
            prefix=unprivileged(),
        )  # fmt: skip
    finally:
        model_folder.chmod(0o755)
    assert one_line_error(result).startswith(f"cannot add a version folder to {model_folder}: this user")
    assert sorted(p.name for p in model_folder.iterdir()) == ["1"]


def test_export_onto_a_served_version_refuses_without_force(model_files, tmp_path: Path) -> None:
    served = tmp_path / "repo" / "digits" / "1" / "model.onnx"
    served.parent.mkdir(parents=True)
    served.write_bytes(DEMO.read_bytes())
    source = str(model_files("mlp.keras"))
    message = one_line_error(run_cli(source, "--output", str(served), "--labels", "a,b,c"))
    assert message == (
        f"{served} exists: a model with labels {', '.join(LABELS)}, version 1 of 'digits', which a server watching "
        f"{tmp_path / 'repo'} serves now. Nothing was written: publish the new model as the next version with "
        f"python -m model_export publish SOURCE --repository {tmp_path / 'repo'} --name digits --labels ..., "
        "or pass --force to replace this file"
    )
    assert served.read_bytes() == DEMO.read_bytes()

    replaced = run_cli(source, "--output", str(served), "--labels", "a,b,c", "--force")
    assert replaced.returncode == 0, replaced.stderr
    from model_export import read_metadata

    assert read_metadata(served).labels == ["a", "b", "c"]


@pytest.fixture(scope="module")
def lambda_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A logits model with a Lambda layer: Python code inside the .keras file."""
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Lambda(lambda t: t * 2.0)(keras.layers.Dense(8, activation="relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3)(hidden))
    model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    path = tmp_path_factory.mktemp("lambda") / "lambda.keras"
    model.save(path)
    return path


def test_a_lambda_layer_is_loaded_only_with_the_explicit_opt_in(lambda_model: Path, tmp_path: Path) -> None:
    output = tmp_path / "m" / "1" / "model.onnx"
    message = one_line_error(run_cli(str(lambda_model), "-o", str(output), "--labels", "a,b,c"))
    assert message.startswith("lambda.keras holds Python code (a Lambda layer)")
    assert "--unsafe-deserialization" in message
    assert "safe_mode" not in message  # Keras's advice names an argument the command line does not have
    assert not output.exists()

    exported = run_cli(str(lambda_model), "-o", str(output), "--labels", "a,b,c", "--unsafe-deserialization")
    assert exported.returncode == 0, exported.stderr
    assert "warning   --unsafe-deserialization: Python code stored in the model file" in exported.stdout

    assert "--unsafe-deserialization" in one_line_error(run_cli("verify", str(output), "--keras", str(lambda_model)))
    verified = run_cli("verify", str(output), "--keras", str(lambda_model), "--unsafe-deserialization")
    assert verified.returncode == 0, verified.stdout + verified.stderr
