"""The walkthrough's checks: `python check_answers.py WHAT [ARGS] < answer`, exit 1 with the reason on a wrong one."""

from __future__ import annotations

import json
import sys

import numpy as np

LABELS = ["first", "sum", "magnitude"]
# The two rows the walkthrough sends: every label true, then none (clear of each rule's boundary).
EXPECTED_MULTI_HOT = [[1, 1, 1], [0, 0, 0]]


def ready(text: str) -> None:
    assert json.loads(text)["status"] == "ready", text


def served_version_2(text: str) -> None:
    assert json.loads(text)["version"] == 2, text


def native_answer(text: str, version: str) -> dict:
    answer = json.loads(text)
    assert answer["model_name"] == "tagger" and answer["model_version"] == int(version), answer
    assert answer["labels"] == LABELS, answer
    assert len(answer["predictions"]) == 2, answer
    return answer


def answers_2(text: str) -> None:
    """curl's JSON (no newline after it), then tritonclient's line: version, probabilities, predictions."""
    answer, end = json.JSONDecoder().raw_decode(text)
    native_answer(json.dumps(answer), "2")
    multi_hot = [prediction["multi_hot"] for prediction in answer["predictions"]]
    assert multi_hot == EXPECTED_MULTI_HOT, multi_hot
    version, probabilities, predictions = text[end:].strip().split(" ", 2)[0], *_triton_arrays(text[end:])
    assert version == "2", text[end:]
    native_probabilities = [prediction["probabilities"] for prediction in answer["predictions"]]
    np.testing.assert_allclose(probabilities, native_probabilities, rtol=1e-6, atol=1e-7)
    assert predictions.astype(int).tolist() == multi_hot, predictions


def _triton_arrays(line: str) -> tuple[np.ndarray, np.ndarray]:
    decoder, rest = json.JSONDecoder(), line.strip().split(" ", 1)[1]
    probabilities, end = decoder.raw_decode(rest)
    predictions, _ = decoder.raw_decode(rest[end:].strip().replace("True", "true").replace("False", "false"))
    return np.array(probabilities), np.array(predictions)


def calibration_carried(model_path: str, label: str, method: str) -> None:
    from model_export import read_metadata

    calibration = json.loads(read_metadata(model_path).props["calibration"])
    entry = calibration["labels"][label]
    assert method in (entry.get("method"), entry.get("target")), entry


def main(argv: list[str]) -> None:
    what, args = argv[0], argv[1:]
    checks = {"ready": ready, "served-version-2": served_version_2, "answers-2": answers_2}
    if what in checks:
        checks[what](sys.stdin.read())
    elif what == "native-answer":
        native_answer(sys.stdin.read(), *args)
    elif what == "calibration-carried":
        calibration_carried(*args)
    else:
        raise SystemExit(f"unknown check {what}")
    print(f"checked: {what} {' '.join(args)}".rstrip())


if __name__ == "__main__":
    main(sys.argv[1:])
