"""JSON documents in and out, for every JSON protocol: parsing that names the problem, writing numpy natively."""

from __future__ import annotations

import gc
import re
from typing import Any

import orjson

from ..core.errors import InvalidInput

# What Python's json, JavaScript and numpy write for numbers JSON cannot hold: orjson stops at them (or at their sign).
_NON_FINITE = re.compile(rb"[-+]?(?:nan|infinity|inf)\b", re.IGNORECASE)


def parse_json_object(body: bytes) -> dict[str, Any]:
    if not body:
        raise InvalidInput("empty body: send a JSON object")
    # A tensor in JSON becomes thousands of nested lists; letting the cyclic GC scan them again and again while
    # orjson builds them cost more than the parse itself (docs/performance/history.md). JSON holds no cycles.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(_not_json(body, exc)) from None
    finally:
        if gc_was_enabled:
            gc.enable()
    if not isinstance(document, dict):
        raise InvalidInput(f"body must be a JSON object ({{...}}), got {json_type(document)}")
    return document


def may_hold_booleans(body: bytes) -> bool:
    """False when a JSON body cannot hold true or false (neither word is in it): the search runs at C speed, and
    then no value needs checking one by one (a 64x64x3 image is 12,288 of them)."""
    return b"true" in body or b"false" in body


def json_type(value: object) -> str:
    """The JSON name of a parsed value's type, for messages: what the caller wrote, not Python's word for it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _not_json(body: bytes, error: orjson.JSONDecodeError) -> str:
    if body[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(body) > 1 and 0 in body[:2]):
        return "body is not UTF-8 (it looks like UTF-16): send JSON encoded as UTF-8"
    if body.startswith(b"\xef\xbb\xbf"):
        return "body starts with a byte order mark: send UTF-8 JSON without one"
    if "UTF-8" in str(error):
        return "body is not valid UTF-8: send JSON encoded as UTF-8"
    start = error.pos - 1 if body[error.pos - 1 : error.pos] in (b"-", b"+") else error.pos
    non_finite = _NON_FINITE.match(body, start)
    if non_finite:
        line = body.count(b"\n", 0, start) + 1
        column = start - body.rfind(b"\n", 0, start)
        return (
            f"body is not valid JSON: {non_finite[0].decode()} (line {line} column {column}) is not a JSON number; "
            "JSON has no NaN or infinity: send finite numbers"
        )
    return f"body is not valid JSON: {error}"


def dump_json(content: Any) -> bytes:
    # orjson writes float32 in its shortest form (0.3, not 0.30000001192092896) and numpy arrays natively.
    return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
