"""verify_exported(), what the `verify` command runs: a written ONNX model's parity with its Keras source, again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import onnx

from model_export.errors import ExportError
from model_export.files import sha256_of_source
from model_export.metadata import read_metadata
from model_export.parity.compare import DEFAULT_BATCH_SIZES, PROBABILITY_TOLERANCE, VerificationReport
from model_export.progress import progress_bar
from service.contract.metadata import HEAD, HEAD_SIGMOID_ACCEPTED, INPUT_RENAMES, SOURCE_SHA256


@dataclass
class VerifyOutcome:
    model: Path
    source: Path
    passed: bool
    report: VerificationReport | None
    failure: str | None
    source_matches_metadata: bool | None  # None: the model records no source fingerprint
    parity_rows: str | None = None  # what a text model's parity ran on

    def format(self) -> str:
        lines = [f"model     {self.model}", f"source    {self.source}"]
        if self.source_matches_metadata is not None:
            same = "matches" if self.source_matches_metadata else "DIFFERS from"
            lines.append(f"sha256    source {same} the one recorded at export")
        if self.report is not None:
            r = self.report
            lines.append(
                f"parity    {self.parity_rows or f'batches {r.batch_sizes}'}: max abs error probabilities "
                f"{r.max_abs_error_probabilities:.2e} (bound {r.tolerance:g}), logits {r.max_abs_error_logits:.2e}"
            )
            if r.max_abs_error_model_output is not None:
                lines.append(f"          vs the model's own sigmoid output {r.max_abs_error_model_output:.2e}")
        if self.failure:
            lines.append(f"FAIL      {self.failure}")
        else:
            lines.append("PASS")
        return "\n".join(lines)


def verify_exported(
    model: str | Path,
    source: str | Path,
    sample_data: str | Path | None = None,
    *,
    tolerance: float = PROBABILITY_TOLERANCE,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    seed: int = 0,
    show_progress: bool = False,
    unsafe_deserialization: bool = False,
) -> VerifyOutcome:
    """Parity of `model` (ONNX) with `source` (Keras/SavedModel). Raises ExportError when it cannot check."""
    from model_export.keras import head
    from model_export.keras.input_names import recorded_renames, rename_inputs
    from model_export.keras.load import load_source
    from model_export.keras.served_interface import recorded_columns
    from model_export.parity.proof import prove_parity

    model, source = Path(model), Path(source)
    if not model.is_file():
        raise ExportError(f"model {model} does not exist")
    metadata = read_metadata(model)
    recorded = metadata.props.get(SOURCE_SHA256)
    with progress_bar("verifying", 3 + len(batch_sizes), show_progress) as advance:
        loaded = load_source(source, unsafe_deserialization)
        if loaded.kind == "keras":  # the names the model serves, as export gave them
            rename_inputs(loaded, recorded_renames(metadata.props.get(INPUT_RENAMES)))
        columns = recorded_columns(metadata.props, len(metadata.labels))
        advance(description="loaded the source")
        accepted = metadata.props.get(HEAD) == HEAD_SIGMOID_ACCEPTED
        if loaded.kind == "keras" and not loaded.subclassed:
            if accepted:
                decision = head.accepted_sigmoid_decision(loaded.keras_model)
            else:
                decision = head.decide_keras_head(loaded.graph_source, loaded.loss, accept_sigmoid_output=False)
        else:  # the exported model's metadata says what its source returns
            decision = head.HeadDecision(metadata.props.get(HEAD, head.HEAD_APPENDED_SIGMOID), not accepted, "")
            decision.graph_model = loaded.keras_model
        proto = onnx.load(str(model))
        advance(description="checking parity")
        outcome = VerifyOutcome(model, source, True, None, None, None)
        if recorded:
            outcome.source_matches_metadata = recorded == sha256_of_source(loaded.path)
        try:
            if loaded.text is not None:  # what the service will run must be what the source's layers do
                _check_recorded_steps(metadata.props, loaded)
            if loaded.transformer is not None:
                _check_recorded_tokenizer(metadata.props, loaded)
            parity = prove_parity(
                proto,
                loaded,
                decision,
                sample_data,
                tolerance,
                batch_sizes,
                seed,
                n_labels=len(metadata.labels),
                columns=columns,
            )
            outcome.report = parity.report
            outcome.parity_rows = None if parity.text is None else parity.text.describe()
        except ExportError as exc:
            outcome.passed, outcome.failure = False, str(exc).replace(" Nothing was written.", "")
        advance(len(batch_sizes) + 1)
    return outcome


def _check_recorded_steps(props: dict[str, str], loaded) -> None:
    """Parity runs the source's text layers; the service runs the steps recorded in the model: they must agree
    (needs_token aside: parity decides it; needs_known_token was the exporter's choice, and parity keeps it)."""
    from service.contract.metadata import TEXT_STEPS as METADATA_KEY
    from service.contract.text.spec import parse_specs

    recorded = props.get(METADATA_KEY)
    if recorded is None:
        raise ExportError("the source reads raw text, but the model records no text steps: it was not exported from it")
    try:
        specs = parse_specs(recorded)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    loaded.text.refuse_empty_texts = any(spec.needs_known_token for spec in specs)
    if specs != loaded.text.specs({spec.feeds: spec.needs_token for spec in specs}):
        raise ExportError(
            "the text steps recorded in the model differ from the source's text layers (vocabulary, settings or "
            "input names): the service would not read text as the source does"
        )


def _check_recorded_tokenizer(props: dict[str, str], loaded) -> None:
    """Parity runs the source's preprocessor; the service runs the tokenizer step recorded in the model."""
    from model_export.keras.kerashub import recorded_spec, same_step

    recorded = recorded_spec(props)
    if recorded is None:
        raise ExportError(
            "the source is a KerasHub task, but the model records no tokenizer step: it was not exported from it"
        )
    if not same_step(recorded, loaded.transformer.spec):
        raise ExportError(
            "the tokenizer step recorded in the model differs from the source's preprocessor (vocabulary, settings or "
            "sequence length): the service would not read text as the source does"
        )
