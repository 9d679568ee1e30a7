"""The model file: what `model_export` writes and `service` reads, in one place both import.

An exported model is `REPOSITORY/NAME/VERSION/model.onnx` (`repository.py`) whose graph outputs `probabilities` and
`logits`, and whose ONNX metadata holds the labels and thresholds (`labels.py`), optional reference rates
(`reference_rates.py`), the text steps that turn raw strings into its inputs (`text/`) and provenance (the keys are
in `metadata.py`). `model_file.py` reads and checks all of it; a file it accepts is a file the server serves.

This package imports nothing else of `service` (no web framework, no ONNX Runtime session code, no settings): the
exporter imports it and only it. `.importlinter` in the repository root states the rule and `make test` checks it.
"""
