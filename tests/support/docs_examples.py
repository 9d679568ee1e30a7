"""The examples of a Markdown page, and how a shown output is compared with a printed one.

The convention (docs/development/testing.md): a ```bash or ```python block followed, with nothing but blank lines
between, by a ```json or ```text block titled "Output" (```json title="Output") is an example: the collector runs
the first and compares what it prints with the second. HTML comments `<!-- examples: ... -->` steer it:
`session NAME` (a page whose blocks all run, in order, in one shell), `skip` (the next block is not run),
`run COMMAND` (a step a reader does not need to see, such as waiting for a server), `tolerance REL [ABS]`.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

COMMANDS = ("bash", "python")
OUTPUTS = ("json", "text")
OUTPUT_TITLE = 'title="Output"'
DEFAULT_TOLERANCE = 1e-5  # relative, for every number an output shows
ABSOLUTE_TOLERANCE = 1e-6  # below this two numbers are the same (probabilities of 1e-8 and 3e-8)
WILDCARD = "..."  # a JSON string "..." matches any value; a text line "..." matches any lines

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_DIRECTIVE = re.compile(r"^\s*<!--\s*examples:\s*(?P<word>\w+)\s*(?P<rest>.*?)\s*-->\s*$")
# A comment in a command block that starts like JSON output: {"..., {{..., [[..., [{...
_OUTPUT_IN_COMMENT = re.compile(r"(?:^|\s)#\s*(?:\{\{|\{\"|\[\[|\[\{)")
_NUMBER = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")


@dataclass
class Block:
    language: str
    info: str
    text: str
    line: int  # of the opening fence, 1-based


@dataclass
class Step:
    """One thing a page runs: a command block (with the output it shows, if any) or a hidden `run` directive."""

    kind: str  # "bash", "python" or "hidden" (a bash command the page does not show)
    code: str
    line: int
    shown: Block | None = None
    skip: bool = False


@dataclass
class Page:
    path: Path
    name: str
    session: str | None = None  # None: each example runs alone against the demo server
    tolerance: tuple[float, float] = (DEFAULT_TOLERANCE, ABSOLUTE_TOLERANCE)  # relative, absolute
    steps: list[Step] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # breaches of the convention

    @property
    def examples(self) -> list[Step]:
        return [step for step in self.steps if step.shown is not None]


def parse_page(path: Path, name: str) -> Page:
    page = Page(path, name)
    lines = path.read_text().splitlines()
    previous: Block | None = None
    text_since_previous = True  # anything but blank lines since the last block closed
    skip_next = False
    index = 0
    while index < len(lines):
        line = lines[index]
        opening = _FENCE.match(line)
        if opening is None:
            directive = _DIRECTIVE.match(line)
            if directive:
                skip_next = _directive(page, directive["word"], directive["rest"], index + 1) or skip_next
            if line.strip():
                text_since_previous = True
            index += 1
            continue
        block, index = _read_block(lines, index, opening)
        if block.language in OUTPUTS and OUTPUT_TITLE in block.info:
            _attach_output(page, block, previous, text_since_previous)
        elif block.language in COMMANDS:
            page.steps.append(Step(block.language, block.text, block.line, skip=skip_next))
            page.problems += [f"{name}:{block.line + 1 + n}: output in a comment; show it in an Output block: "
                              f"{text.strip()}" for n, text in enumerate(block.text.splitlines())
                              if _OUTPUT_IN_COMMENT.search(text)]  # fmt: skip
            skip_next = False
        previous, text_since_previous = block, False
    return page


def _directive(page: Page, word: str, rest: str, line: int) -> bool:
    """Applies a page directive; True for `skip` (which applies to the next command block)."""
    if word == "session":
        page.session = rest
    elif word == "tolerance":
        numbers = [float(number) for number in rest.split()]
        page.tolerance = (numbers[0], numbers[1] if len(numbers) > 1 else ABSOLUTE_TOLERANCE)
    elif word == "run":
        page.steps.append(Step("hidden", rest, line))
    elif word == "skip":
        return True
    else:
        page.problems.append(f"{page.name}:{line}: unknown examples directive {word!r}")
    return False


def _read_block(lines: list[str], start: int, opening: re.Match[str]) -> tuple[Block, int]:
    indent, fence, info = opening["indent"], opening["fence"], opening["info"].strip()
    body = []
    index = start + 1
    while index < len(lines):
        stripped = lines[index].strip()
        if stripped.startswith(fence) and set(stripped) == {fence[0]}:
            break
        body.append(lines[index][len(indent) :] if lines[index].startswith(indent) else lines[index].lstrip())
        index += 1
    language = info.split()[0] if info else ""
    return Block(language, info, "\n".join(body) + "\n", start + 1), index + 1


def _attach_output(page: Page, block: Block, previous: Block | None, text_between: bool) -> None:
    where = f"{page.name}:{block.line}"
    if previous is None or previous.language not in COMMANDS or text_between or not page.steps:
        page.problems.append(f"{where}: an Output block must follow a ```bash or ```python block directly")
        return
    if page.steps[-1].shown is not None or page.steps[-1].line != previous.line:
        page.problems.append(f"{where}: one Output block per command block")
        return
    if block.language == "json":
        try:
            json_values(block.text)
        except ValueError as error:
            page.problems.append(f"{where}: the shown output is not JSON: {error}")
            return
    page.steps[-1].shown = block


def json_values(text: str) -> list[object]:
    """Every JSON value in `text`, one after the other (curl prints no newline after its body)."""
    decoder, values, position = json.JSONDecoder(), [], 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return values
        value, position = decoder.raw_decode(text, position)
        values.append(value)


def differences(shown: Block, printed: str, tolerance: tuple[float, float]) -> list[str]:
    """How `printed` differs from the shown output; empty when they agree."""
    if shown.language == "json":
        try:
            actual = json_values(printed)
        except ValueError as error:
            return [f"printed is not JSON ({error}): {printed[:300]!r}"]
        return _json_differences(json_values(shown.text), actual, "", tolerance)
    return _text_differences(_lines(shown.text), _lines(printed), tolerance)


def _json_differences(shown: object, actual: object, path: str, tolerance: tuple[float, float]) -> list[str]:
    if shown == WILDCARD:
        return []
    if _is_number(shown) and _is_number(actual):
        return [] if _close(actual, shown, tolerance) else [f"{path or '.'}: printed {actual}, shown {shown}"]
    if isinstance(shown, dict) and isinstance(actual, dict):
        if shown.keys() != actual.keys():
            return [f"{path or '.'}: printed keys {sorted(actual)}, shown {sorted(shown)}"]
        return [d for key in shown for d in _json_differences(shown[key], actual[key], f"{path}.{key}", tolerance)]
    if isinstance(shown, list) and isinstance(actual, list):
        if len(shown) != len(actual):
            return [f"{path or '.'}: printed {len(actual)} items, shown {len(shown)}"]
        pairs = zip(shown, actual, strict=True)
        return [d for i, (s, a) in enumerate(pairs) for d in _json_differences(s, a, f"{path}[{i}]", tolerance)]
    return [] if shown == actual and type(shown) is type(actual) else [f"{path or '.'}: printed {actual!r}, "
                                                                       f"shown {shown!r}"]  # fmt: skip


def _text_differences(shown: list[str], actual: list[str], tolerance: tuple[float, float]) -> list[str]:
    if _lines_match(shown, actual, tolerance):
        return []
    diff = difflib.unified_diff(shown, actual, "shown", "printed", lineterm="")
    return ["printed text differs (numbers aside, where within the tolerance):\n" + "\n".join(diff)]


def _lines_match(shown: list[str], actual: list[str], tolerance: tuple[float, float]) -> bool:
    for index, line in enumerate(shown):
        if line.strip() == WILDCARD:
            rest = shown[index + 1 :]
            return any(_lines_match(rest, actual[start:], tolerance) for start in range(index, len(actual) + 1))
        if index >= len(actual) or not _line_matches(line, actual[index], tolerance):
            return False
    return len(actual) == len(shown)


def _line_matches(shown: str, actual: str, tolerance: tuple[float, float]) -> bool:
    """Words equal, numbers within the tolerance (split the same way: text, number, text, ...)."""
    shown_parts, actual_parts = _NUMBER.split(shown), _NUMBER.split(actual)
    if len(shown_parts) != len(actual_parts):
        return False
    for i, (s, a) in enumerate(zip(shown_parts, actual_parts, strict=True)):
        if i % 2 == 0 and s.split() != a.split():
            return False
        if i % 2 == 1 and not _close(float(a), float(s), tolerance):
            return False
    return True


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _close(actual: float, shown: float, tolerance: tuple[float, float]) -> bool:
    return math.isclose(actual, shown, rel_tol=tolerance[0], abs_tol=tolerance[1])
