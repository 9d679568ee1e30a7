"""keras.io's multi-label text classifier as written there (`Sequential([text_vectorizer, shallow_mlp_model])`, a
sigmoid head inside the nested model, "[UNK]" among the labels, an input named by Keras), and held-out cases in its
style, trained and exported through the CLI once per run (tests/support/keras_io_models.py), served by a real
server and asked from raw strings over every protocol: within 1e-5 of Keras, text by text.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from model_export.cli import main
from tests.support.build_once import build_once
from tests.support.every_protocol import PROTOCOLS, Clients, ask, ask_all, clients_for
from tests.support.keras_io_models import HELD_OUT, TEXTS, UNKNOWN_ONLY, KerasIoModels, build
from tests.support.server import RunningServer, serving

pytest.importorskip("keras")

TOLERANCE = 1e-5
SERVED = ("abstracts", "abstracts_served", "bag_of_words", "counts_activation", "two_level")
NO_KNOWN_WORD = "has no word this model knows"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> KerasIoModels:
    return build_once(tmp_path_factory, "keras_io", build)


@pytest.fixture(scope="module")
def server(built: KerasIoModels, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    repository = tmp_path_factory.mktemp("keras_io_repository")
    for name in SERVED:  # what exported: a refusal here fails its own test, not the server's start
        if built.exports[name].status == 0:
            (repository / name / "1").mkdir(parents=True)
            shutil.copy(built.exports[name].onnx, repository / name / "1" / "model.onnx")
    yield from serving({"MODEL_REPOSITORY": str(repository), "MAX_BATCH_SIZE": "64"})


@pytest.fixture(scope="module")
def clients(server: RunningServer) -> Iterator[Clients]:
    yield from clients_for(server)


def exported(built: KerasIoModels, name: str) -> str:
    """The CLI's output for a model it must have exported."""
    export = built.exports[name]
    assert export.status == 0, f"{name}: exit {export.status}: {export.stderr.strip()[-600:]}"
    return export.stdout


def parity(built: KerasIoModels, name: str) -> str:
    """The exporter's own parity line, shortened: what the docs' table shows beside the served error."""
    found = re.search(r"max abs error probabilities (\S+)", exported(built, name))
    return f"export parity {found.group(1) if found else '?'}"


def model_info(clients: Clients, name: str) -> dict:
    response = clients.http.get(f"/models/{name}")
    assert response.status_code == 200 and response.json()["ready"], response.text
    return response.json()


def cli(*argv: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main(list(argv))
    return status, stdout.getvalue(), stderr.getvalue()


def test_keras_io_sequential_with_a_nested_sigmoid_head_exports_its_logits(built):
    output = exported(built, "abstracts")
    assert "head      model_sigmoid_logits_recovered: last layer" in output
    assert re.search(r"in nested model 'sequential(_\d+)?' applies a sigmoid", output)  # numbered by the session
    two_levels = exported(built, "two_level")
    assert "in nested model 'head' in nested model 'clf' applies a sigmoid" in two_levels


def test_a_sequential_saved_before_it_was_called_is_built_on_one_text(built):
    """keras.io's Sequential saved as constructed: built here on one string per example, input named "text"."""
    output = exported(built, "abstracts_unbuilt")
    assert "text      text (text) -> TextVectorization" in output

    def served_path(name: str) -> np.ndarray:
        from service.contract.text.keras_layers import text_steps_from_metadata

        session = ort.InferenceSession(str(built.exports[name].onnx), providers=["CPUExecutionProvider"])
        (step,) = text_steps_from_metadata(session.get_modelmeta().custom_metadata_map)
        return session.run(["probabilities"], {step.feeds: step.transform(TEXTS)})[0]

    np.testing.assert_array_equal(served_path("abstracts_unbuilt"), served_path("abstracts"))


def test_bag_of_words_on_an_input_of_shape_one_exports_as_it_runs(built):
    """Keras declares [batch, 1, labels] for multi_hot, count and tf_idf on keras.Input(shape=(1,)); predict gives
    [batch, labels]. The layers after them are rebuilt on the rows that run, and parity proves it."""
    output = exported(built, "bag_of_words")
    for mode in ("multi_hot", "count", "tf_idf"):
        assert f"TextVectorization '{mode}_words' {mode}" in output
    assert "Keras declares" not in output
    assert "max abs error probabilities" in exported(built, "counts_activation")


@pytest.mark.parametrize("name", ["abstracts", "bag_of_words", "counts_activation", "two_level"])
def test_keras_io_cases_are_served_within_1e_5_on_every_protocol(name, built, clients):
    """Held-out texts and texts with no known word (answered as Keras answers them, from its biases): every protocol,
    every text within 1e-5 of the Keras model as saved, scored alone."""
    input_name = model_info(clients, name)["inputs"][0]["name"]
    expected = built.keras[name]
    errors = {}
    for protocol, answer in ask_all(clients, name, input_name, TEXTS).items():
        assert not isinstance(answer, str), f"{protocol}: {answer}"
        assert answer.shape == expected.shape, protocol
        errors[protocol] = float(np.max(np.abs(answer - expected)))
    assert max(errors.values()) <= TOLERANCE, errors
    print(f"{name}: {parity(built, name)}; served {len(TEXTS)} texts, max abs error {max(errors.values()):.1e}")


def test_a_generated_input_name_is_warned_and_text_is_its_alias(built, clients):
    generated = built.generated_input
    assert generated.startswith("input_layer")
    assert f"warning   input '{generated}' has the name Keras generated" in exported(built, "abstracts")
    info = model_info(clients, "abstracts")
    assert info["inputs"] == [
        {
            "name": generated,
            "dtype": "text",
            "shape": [-1],
            "aliases": ["text"],
            "needs_token": False,
            "needs_known_token": False,
        }
    ]
    by_alias = ask("native", clients, "abstracts", "text", HELD_OUT)
    np.testing.assert_array_equal(by_alias, ask("native", clients, "abstracts", generated, HELD_OUT))
    both = clients.http.post("/models/abstracts/predict", json={"instances": [{"text": "a", generated: "b"}]})
    assert both.status_code == 400 and "twice" in both.json()["error"]
    # The alias is the native API's: v2 names the tensor as the model does.
    assert clients.http.get("/v2/models/abstracts").json()["inputs"][0]["name"] == generated
    assert "is not" in ask("v2 JSON", clients, "abstracts", "text", HELD_OUT)


def test_input_name_renames_the_served_input(built, clients):
    assert f"input '{built.generated_input}' is served as 'abstract'" in exported(built, "abstracts_served")
    assert [i["name"] for i in model_info(clients, "abstracts_served")["inputs"]] == ["abstract"]
    assert clients.http.get("/v2/models/abstracts_served").json()["inputs"][0]["name"] == "abstract"
    old = ask("native", clients, "abstracts_served", built.generated_input, HELD_OUT)
    assert isinstance(old, str) and "'abstract'" in old


def test_unk_label_is_warned_and_can_be_dropped(built, clients):
    assert "warning   label '[UNK]' is the out-of-vocabulary token" in exported(built, "abstracts")
    assert "has no positive row in val.jsonl (120 rows)" in exported(built, "abstracts")
    assert "--drop-label '[UNK]'" in exported(built, "abstracts")
    info = model_info(clients, "abstracts_served")
    assert info["labels"] == built.labels[1:] and len(info["thresholds"]) == 3
    assert info["provenance"]["dropped_labels"] == '{"[UNK]": 0}'
    expected = built.keras["abstracts"][: len(HELD_OUT), 1:]
    errors = {}
    for protocol, answer in ask_all(clients, "abstracts_served", "abstract", HELD_OUT).items():
        assert not isinstance(answer, str), f"{protocol}: {answer}"
        errors[protocol] = float(np.max(np.abs(answer - expected)))
    assert max(errors.values()) <= TOLERANCE, errors
    served = f"served {len(HELD_OUT)} texts, max abs error {max(errors.values()):.1e}"
    print(f"abstracts_served: {parity(built, 'abstracts_served')}; {served}")


def test_calibrate_warns_of_unk_and_writes_rates_of_the_served_labels(built, tmp_path):
    status, output, _ = cli("calibrate", str(built.exports["abstracts"].onnx), "--data", str(built.validation),
                            "-o", str(tmp_path / "all.onnx"))  # fmt: skip
    assert status == 0 and "warning: label '[UNK]' is the out-of-vocabulary token" in output
    assert "export the model again with --drop-label '[UNK]'" in output
    status, output, _ = cli("calibrate", str(built.exports["abstracts_served"].onnx), "--data", str(built.validation),
                            "-o", str(tmp_path / "served.onnx"))  # fmt: skip
    assert status == 0 and "warning" not in output
    from model_export.describe import describe_model

    described = describe_model(tmp_path / "served.onnx")
    assert list(described["reference_rates"]["positive_rates"]) == built.labels[1:]
    assert described["input_aliases"] == {"text": "abstract"}


def test_refused_empty_texts_get_a_400_on_every_protocol(built, clients):
    assert "a text with no word of the vocabulary is refused with a 400" in exported(built, "abstracts_served")
    assert model_info(clients, "abstracts_served")["inputs"][0]["needs_known_token"] is True
    for text in UNKNOWN_ONLY:
        for protocol in PROTOCOLS:
            answer = ask(protocol, clients, "abstracts_served", "abstract", [text])
            assert isinstance(answer, str) and NO_KNOWN_WORD in answer, (protocol, text, answer)
    assert clients.http.get("/health/ready").status_code == 200


def test_verify_applies_what_export_recorded(built):
    """verify loads the source again: it renames the input, serves the kept labels and refuses as export did."""
    from model_export.parity.verify_command import verify_exported

    outcome = verify_exported(built.exports["abstracts_served"].onnx, built.sources["abstracts"])
    assert outcome.passed, outcome.format()
    assert "more with no token or no known word" in outcome.format()


def test_the_interface_options_refuse_in_one_line(built, model_files, tmp_path):
    source, output = str(built.sources["abstracts"]), str(tmp_path / "m" / "1" / "model.onnx")
    labels = ",".join(built.labels)
    cases = {
        ("--drop-label", "cs.XX"): "--drop-label names unknown label(s) cs.XX",
        ("--input-name", "abstract"): "--input-name expects OLD=NEW",
        ("--input-name", "nope=abstract"): "--input-name names 'nope', which the model does not take",
    }
    for options, message in cases.items():
        status, _, stderr = cli(source, "-o", output, "--labels", labels, *options)
        assert status == 2 and stderr.count("error:") == 1 and message in stderr, stderr
    status, _, stderr = cli(str(model_files("mlp.keras")), "-o", output, "--labels", "a,b,c", "--refuse-empty-texts")
    assert status == 2 and "--refuse-empty-texts is for models that read raw text" in stderr
    assert not Path(output).exists()


def test_a_numeric_model_drops_a_label_and_keeps_its_rates_consistent(model_files, tmp_path):
    """--drop-label on numbers: the graph serves the other columns, parity holds on them, and the sample data's
    labels (named for every output column) give the reference rates of the labels served."""
    from model_export.metadata import read_metadata
    from service.contract.reference_rates import parse_reference_rates

    rng = np.random.default_rng(0)
    sample = tmp_path / "sample.npz"
    np.savez(sample, features=rng.normal(size=(40, 6)).astype(np.float32), y=rng.random((40, 3)) < 0.5)
    output = tmp_path / "mlp" / "1" / "model.onnx"
    status, printed, stderr = cli(str(model_files("mlp.keras")), "-o", str(output), "--labels", "a,b,c",
                                  "--drop-label", "b", "--sample-data", str(sample))  # fmt: skip
    assert status == 0, stderr
    assert "labels    a@0.5, c@0.5" in printed and "note      label 'b' is not served (--drop-label)" in printed
    metadata = read_metadata(output)
    assert metadata.labels == ["a", "c"] and metadata.props["dropped_labels"] == '{"b": 1}'
    rates = parse_reference_rates(metadata.props, metadata.labels, metadata.thresholds)
    assert list(rates.positive_rates) == ["a", "c"]
    session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    assert [o.shape[-1] for o in session.get_outputs()] == [2, 2]
