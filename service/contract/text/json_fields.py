"""Reading the JSON of a model file's metadata entries: the entry's format version, then each object field by field,
each value checked, each refusal a ValueError naming where it is, the field and what it must be (the text steps and
the tokenizer step are read this way)."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import Any


class JsonFields:
    def __init__(self, raw: Any, where: str, fields: Collection[str], optional: Collection[str] = ()) -> None:
        """ValueError unless `raw` is an object holding every one of `fields` but the `optional` ones, and no other."""
        if not isinstance(raw, dict):
            raise ValueError(f"{where} is not a JSON object")
        missing = sorted(set(fields) - set(optional) - set(raw))
        unknown = sorted(set(raw) - set(fields))
        if missing or unknown:
            problems = [f"missing fields {missing}"] if missing else []
            problems += [f"unknown fields {unknown}"] if unknown else []
            raise ValueError(f"{where}: " + ", ".join(problems))
        self.raw, self.where = raw, where

    def field(self, name: str, check: Callable[[Any], bool], what: str) -> Any:
        value = self.raw[name]
        if not check(value):
            raise ValueError(f"{self.where}: '{name}' must be {what}, got {json.dumps(value)[:80]}")
        return value

    def choice(self, name: str, options: tuple[Any, ...]) -> Any:
        return self.field(name, lambda v: v in options, "one of " + ", ".join(json.dumps(o) for o in options))


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_name(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def versioned_document(text: str, key: str, version: int) -> dict[str, Any]:
    """The JSON object of metadata entry `key`, written in format `version`; ValueError naming what is wrong."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"metadata '{key}' is not valid JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != version:
        found = document.get("format") if isinstance(document, dict) else None
        raise ValueError(
            f"metadata '{key}' has format {found!r}; this server reads format {version} "
            "(re-export the model with the matching exporter)"
        )
    return document
