"""`python -m service --help`: how to run the server, and every setting with its default and meaning.

The docs' configuration page is generated from the same rows (docs/gen_reference.py), so the two cannot disagree.
"""

from __future__ import annotations

import os
import sys

from pydantic import SecretStr

from ..settings import Settings

USAGE = """usage: python -m service                      serve MODEL_REPOSITORY, configured by the settings below
       python -m service check [REPOSITORY]   say offline what a server would serve from a repository
       python -m service --help               this text"""


def setting_rows() -> list[tuple[str, str, str]]:
    """(environment variable, default as text, meaning) for every setting, in the order Settings declares them."""
    return [
        (name.upper(), shown_default(field.default), field.description or "")
        for name, field in Settings.model_fields.items()
    ]


def shown_default(value: object) -> str:
    """A default as a person would type it in the environment ("" for none)."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def answer_help(argv: list[str]) -> None:
    """Exits after printing usage for --help (status 0) or an argument the server does not take (status 2)."""
    if argv[:1] in (["-h"], ["--help"]):
        try:
            print(help_text())
            sys.stdout.flush()  # a reader that stopped reading is found here, not in the interpreter's last flush
        except BrokenPipeError:
            # `python -m service --help | head`: nothing failed here, and there is nobody left to tell.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(0)
    if argv and argv[0] != "check":
        print(f"unknown argument {argv[0]!r}\n{USAGE}", file=sys.stderr)
        raise SystemExit(2)


def help_text() -> str:
    rows = setting_rows()
    name_width = max(len(name) for name, _, _ in rows)
    default_width = max(len(default or "(empty)") for _, default, _ in rows)
    lines = [USAGE, "", "settings (environment variables, case-insensitive), with their defaults:"]
    for name, default, meaning in rows:
        lines.append(f"  {name:<{name_width}}  {default or '(empty)':<{default_width}}  {meaning}")
    return "\n".join(lines)
