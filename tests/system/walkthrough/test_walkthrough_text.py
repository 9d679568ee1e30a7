"""The README's "From your model to production" shows the commands `make walkthrough` runs, word for word: the
README's marked bash blocks against the script's regions between `# >>> README` and `# <<< README`."""

from __future__ import annotations

import re

from tests.support.server import ROOT

SCRIPT = ROOT / "tests" / "walkthrough" / "walkthrough.sh"
README_MARK = "<!-- walkthrough: the commands of tests/system/walkthrough/walkthrough.sh -->"


def commands(lines: list[str]) -> list[str]:
    """The lines that run something: blank lines and whole-line comments left out (the README explains more)."""
    return [line.rstrip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def script_commands() -> list[str]:
    regions = re.findall(r"^# >>> README\n(.*?)^# <<< README\n", SCRIPT.read_text(), flags=re.M | re.S)
    return commands([line for region in regions for line in region.splitlines()])


def readme_commands() -> list[str]:
    blocks = re.findall(
        re.escape(README_MARK) + r"\n```bash\n(.*?)^```\n", (ROOT / "README.md").read_text(), re.M | re.S
    )
    return commands([line for block in blocks for line in block.splitlines()])


def test_the_readme_shows_the_walkthrough_commands_word_for_word() -> None:
    shown, run = readme_commands(), script_commands()
    assert len(run) > 20  # the regions were found: training, export, calibrate, serve, publish, both clients
    assert shown == run


def test_the_walkthrough_publishes_while_serving_and_calls_both_clients() -> None:
    run = "\n".join(script_commands())
    for step in ("model_export calibrate", "python -m service", "model_export publish", "curl ", "tritonclient"):
        assert step in run, step
    assert run.index("python -m service") < run.index("model_export publish") < run.index("tritonclient")


def test_make_walkthrough_runs_the_script_and_ci_runs_make_walkthrough() -> None:
    assert "bash tests/system/walkthrough/walkthrough.sh" in (ROOT / "Makefile").read_text()
    assert "\nmake walkthrough\n" in (ROOT / ".ci" / "run").read_text()
