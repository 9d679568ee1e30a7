"""The input names clients send: names Keras generated (a warning), renames (`--input-name OLD=NEW`), and the alias
"text" that a model with one text input also takes on the native API.

A model built without a named `keras.Input` (keras.io's `Sequential([text_vectorizer, ...])`) has inputs named
`input_layer`, `input_layer_1`, ... (Keras 3; `input_1` in Keras 2), numbered in the order the Python session
created them: a name nobody chose, which clients would have to send. A rename happens right after loading, so
everything after it (conversion, parity, sample data, metadata) sees the new name; the renames are recorded in the
metadata so that `verify` can apply them to the source again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from model_export.errors import ExportError
from model_export.input_spec import InputSpec
from model_export.keras.load import LoadedSource

OPTION = "--input-name"
TEXT_ALIAS = "text"
_GENERATED = re.compile(r"input_layer(_\d+)?|input_\d+|keras_tensor(_\d+)?")
_VALID = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")  # TensorFlow's placeholder names take these (and ONNX any)


def parse_renames(values: Sequence[str]) -> dict[str, str]:
    """`OLD=NEW` values (one per option) -> {OLD: NEW}."""
    renames: dict[str, str] = {}
    for value in values:
        old, sep, new = (part.strip() for part in value.partition("="))
        if not sep or not old or not new:
            raise ExportError(f"{OPTION} expects OLD=NEW (an input's name, '=', the name clients send), got {value!r}")
        if not _VALID.fullmatch(new):
            raise ExportError(
                f"{OPTION} {value!r}: a new input name starts with a letter or '_' and holds letters, digits, '_', "
                "'.' and '-' only"
            )
        if renames.setdefault(old, new) != new:
            raise ExportError(f"{OPTION} renames input {old!r} twice")
    return renames


def is_generated(name: str) -> bool:
    return _GENERATED.fullmatch(name) is not None


def rename_inputs(loaded: LoadedSource, renames: Mapping[str, str]) -> None:
    """The source's client-facing input names changed in place (its InputSpecs and its text plan)."""
    if not renames:
        return
    names = [spec.name for spec in loaded.inputs]
    unknown = sorted(set(renames) - set(names))
    if unknown:
        raise ExportError(
            f"{OPTION} names {_listed(unknown)}, which the model does not take; its inputs: {_listed(names)}"
        )
    final = [renames.get(name, name) for name in names]
    clash = sorted({name for name in final if final.count(name) > 1})
    feeds = {use.spec.feeds for use in loaded.text.uses} if loaded.text is not None else set()
    clash += sorted(set(renames.values()) & feeds - set(clash))
    if clash:
        raise ExportError(f"{OPTION} would give two inputs the name {_listed(clash)}; choose another name")
    loaded.inputs = [replace(spec, name=renames.get(spec.name, spec.name)) for spec in loaded.inputs]
    if loaded.text is None:
        return
    plan = loaded.text
    plan.onnx_inputs = [_renamed(spec, renames) for spec in plan.onnx_inputs]
    for use in plan.uses:
        new = renames.get(use.input_name, use.input_name)
        use.input_name, use.spec = new, replace(use.spec, input=new)


def generated_name_warnings(loaded: LoadedSource) -> list[str]:
    """One warning per client-facing input whose name Keras generated."""
    warnings = []
    aliases = text_aliases(loaded)
    for spec in loaded.inputs:
        if is_generated(spec.name):
            also = f" (the native API also takes {TEXT_ALIAS!r} for it)" if aliases.get(TEXT_ALIAS) == spec.name else ""
            warnings.append(
                f"input {spec.name!r} has the name Keras generated for an unnamed input: clients must send it under "
                f"that name{also}. Rename it with {OPTION} {spec.name}=NEW, or name the keras.Input when building "
                "the model"
            )
    return warnings


def text_aliases(loaded: LoadedSource) -> dict[str, str]:
    """{alias: input name}: "text" for a model whose only input is text and is named otherwise."""
    if len(loaded.inputs) != 1 or loaded.inputs[0].dtype != "string" or loaded.inputs[0].name == TEXT_ALIAS:
        return {}
    return {TEXT_ALIAS: loaded.inputs[0].name}


def renames_entry(renames: Mapping[str, str]) -> str:
    """The `input_renames` metadata value."""
    return json.dumps(dict(renames), ensure_ascii=False)


def recorded_renames(value: str | None) -> dict[str, str]:
    """The renames a model file records (its `input_renames` entry), for `verify`."""
    if not value:
        return {}
    try:
        renames = json.loads(value)
    except ValueError:
        renames = None
    if not isinstance(renames, dict) or not all(isinstance(v, str) for v in [*renames, *renames.values()]):
        raise ExportError(f"the model's 'input_renames' entry is not a JSON object of names: {value[:80]!r}")
    return renames


def _renamed(spec: InputSpec, renames: Mapping[str, str]) -> InputSpec:
    return replace(spec, name=renames.get(spec.name, spec.name))


def _listed(names: Sequence[str]) -> str:
    return ", ".join(repr(name) for name in names)
