"""A model version a client wrote as text (a URL segment, a gRPC message's version field), for every protocol."""

from __future__ import annotations

from ..contract.repository import MAX_VERSION, is_decimal
from ..core.errors import InvalidInput, as_sent


def parse_version(text: str) -> int:
    """A positive int64, leading zeros allowed; bounded before int(), which raises past 4,300 digits."""
    digits = text.lstrip("0")
    if not is_decimal(text) or not digits:
        raise InvalidInput(f"model version must be a positive integer, got {as_sent(text)}")
    if len(digits) > len(str(MAX_VERSION)) or int(digits) > MAX_VERSION:
        raise InvalidInput(f"model version must be below 2**63 (int64), got {as_sent(text)}")
    return int(digits)
