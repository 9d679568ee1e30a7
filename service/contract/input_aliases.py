"""Input aliases: other names under which the native API takes a model's inputs, written and read here.

The `input_aliases` metadata entry is a JSON object {alias: input name}. The exporter writes {"text": NAME} for a
model whose only input is text and is named otherwise (often a name Keras generated, `input_layer_1`), so that
`{"instances": [{"text": "..."}]}` reaches it. The service's native adapter reads an alias as the input it names, and
the native model metadata lists each input's aliases. Other protocols name their tensors as the model does.

A malformed entry does not stop a model from being served: it is served without aliases, with a warning.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from .metadata import INPUT_ALIASES


class InvalidInputAliases(ValueError):
    """The entry is not one the service can use; the message says why."""


def dump_input_aliases(aliases: Mapping[str, str]) -> str:
    return json.dumps(dict(aliases), ensure_ascii=False)


def parse_input_aliases(metadata: Mapping[str, str], input_names: Sequence[str]) -> dict[str, str]:
    """{alias: input name} from the metadata ({} when absent); InvalidInputAliases naming what is wrong."""
    raw = metadata.get(INPUT_ALIASES)
    if raw is None:
        return {}
    try:
        aliases = json.loads(raw)
    except ValueError:
        raise InvalidInputAliases(f"metadata '{INPUT_ALIASES}' is not valid JSON") from None
    if not isinstance(aliases, dict) or not all(isinstance(v, str) and v for v in [*aliases, *aliases.values()]):
        raise InvalidInputAliases(f"metadata '{INPUT_ALIASES}' must be a JSON object of non-empty names")
    unknown = sorted(set(aliases.values()) - set(input_names))
    if unknown:
        raise InvalidInputAliases(f"metadata '{INPUT_ALIASES}' names {unknown}, which are not inputs of the model")
    taken = sorted(set(aliases) & set(input_names))
    if taken:
        raise InvalidInputAliases(f"metadata '{INPUT_ALIASES}': {taken} already name inputs of the model")
    return aliases
