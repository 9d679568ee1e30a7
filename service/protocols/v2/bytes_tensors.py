"""BYTES tensors of the Open Inference Protocol v2: the texts of a text model's inputs, over REST and gRPC.

In JSON a BYTES tensor's `data` holds strings. In binary form (REST's binary tensor extension, gRPC's
`raw_input_contents`) it is Triton's serialization, what tritonclient's `serialize_byte_tensor` writes: each
element a 4-byte little-endian length, then that many bytes, elements in row-major order, nothing between or after.
gRPC's typed form is `contents.bytes_contents`, one bytes value per element. Every element must be UTF-8 text:
the model reads text, and a decoding error is the caller's to fix, not something to guess around.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from ...contract.text.keras_layers import value_kind
from ...core.errors import InvalidInput

_LENGTH = struct.Struct("<I")


def texts_from_serialized(name: str, data: memoryview | bytes, shape: tuple[int, ...], what: str) -> np.ndarray:
    """A binary BYTES tensor (length-prefixed elements) as an array of str of `shape`."""
    expected = math.prod(shape)
    texts: list[str] = []
    offset, size = 0, len(data)
    while offset < size:
        if len(texts) == expected:
            raise InvalidInput(
                f"input {name!r}: {what} holds more than the {_elements(expected)} of shape {list(shape)} "
                f"({size - offset} bytes left after them)"
            )
        if offset + _LENGTH.size > size:
            raise InvalidInput(
                f"input {name!r}: element {len(texts)} of {what} needs a 4-byte length prefix, but only "
                f"{size - offset} bytes are left"
            )
        (length,) = _LENGTH.unpack_from(data, offset)
        offset += _LENGTH.size
        if offset + length > size:
            raise InvalidInput(
                f"input {name!r}: the length prefix of element {len(texts)} of {what} says {length} bytes, past the "
                f"end of the data ({size - offset} bytes left)"
            )
        texts.append(_decode(name, data[offset : offset + length], len(texts)))
        offset += length
    if len(texts) != expected:
        raise InvalidInput(
            f"input {name!r}: {what} holds {_elements(len(texts))} but shape {list(shape)} needs {expected}"
        )
    return _shaped(name, texts, shape)


def texts_from_elements(name: str, elements: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    """gRPC's bytes_contents (one bytes value per element) as an array of str of `shape`."""
    if len(elements) != math.prod(shape):
        raise size_mismatch(name, what, len(elements), shape)
    return _shaped(name, [_decode(name, element, i) for i, element in enumerate(elements)], shape)


def texts_from_json(name: str, data: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A JSON BYTES tensor's `data`: strings, flat or nested, as an array of str of `shape`."""
    if not isinstance(data, list):
        raise InvalidInput(f"input {name!r}: 'data' must be a (flat or nested) list of strings")
    texts = _flattened(data)
    for index, text in enumerate(texts):
        if type(text) is not str:
            raise InvalidInput(f"input {name!r}: datatype BYTES takes strings in 'data', but element {index} is "
                               f"{value_kind(text)}")  # fmt: skip
    if len(texts) != math.prod(shape):
        raise size_mismatch(name, "'data'", len(texts), shape)
    return _shaped(name, texts, shape)


def size_mismatch(name: str, what: str, count: int, shape: tuple[int, ...]) -> InvalidInput:
    """The one message for a tensor whose values do not fill its shape (JSON data, gRPC contents, BYTES)."""
    values = "1 value" if count == 1 else f"{count} values"
    return InvalidInput(f"input {name!r}: {what} holds {values} but shape {list(shape)} needs {math.prod(shape)}")


def _elements(count: int) -> str:
    return f"{count} element" if count == 1 else f"{count} elements"


def _decode(name: str, element: memoryview | bytes, index: int) -> str:
    try:
        return str(element, "utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"input {name!r}: element {index} is not valid UTF-8 text (byte {exc.start}: {exc.reason})"
        ) from None


def _flattened(data: list) -> list:
    """Nested lists' values in row-major order (iteratively: JSON may nest deeper than Python recurses)."""
    values: list = []
    stack = [iter(data)]
    while stack:
        for value in stack[-1]:
            if isinstance(value, list):
                stack.append(iter(value))
                break
            values.append(value)
        else:
            stack.pop()
    return values


def _shaped(name: str, texts: list[str], shape: tuple[int, ...]) -> np.ndarray:
    array = np.empty(len(texts), dtype=object)
    array[:] = texts
    try:
        return array.reshape(shape)
    except (ValueError, OverflowError):
        raise InvalidInput(f"input {name!r}: shape {list(shape)} is not a shape numpy can hold") from None
