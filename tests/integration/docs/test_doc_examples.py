"""Every example in the docs runs: the one collector for README.md and every page under docs/.

A command block followed by an Output block (docs/development/testing.md) is run against a real server or the
real CLI, and what it prints is compared with what the page shows: JSON structurally, numbers within a relative
tolerance of 1e-5 (absolute 1e-6), text line by line. The pages that train with TensorFlow are marked
`walkthrough`: `make walkthrough` runs them, `make test` does not, so CI runs each TensorFlow export once.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.docs_examples import Page, differences, parse_page
from tests.support.docs_runner import Addresses, Printed, Shell, run_alone
from tests.support.server import ROOT, RunningServer, free_port, serving

DOCS = ROOT / "docs"
PAGES = [parse_page(ROOT / "README.md", "README.md")] + [
    parse_page(path, str(path.relative_to(ROOT))) for path in sorted(DOCS.rglob("*.md"))
]
# demo: a fresh demo server for the page; files: no server; tensorflow: no server (the page starts one), and the page
# trains with TensorFlow (make walkthrough runs it).
SESSIONS = {"demo", "files", "tensorflow"}
# What a session folder holds: copies, so a page may write (a calibrated version, Prometheus' data) freely.
SESSION_COPIES = ("models", "deploy/monitoring")
DEMO_ENV = {"MODEL_REPOSITORY": str(ROOT / "models"), "DEFAULT_MODEL": "digits"}


def page_params() -> list[object]:
    params = []
    for page in PAGES:
        if page.examples or page.session:
            marks = [pytest.mark.walkthrough] if page.session == "tensorflow" else []
            params.append(pytest.param(page, id=page.name, marks=marks))
    return params


@pytest.fixture(scope="module")
def demo_server() -> Iterator[RunningServer]:
    """`make run`'s server: models/ (the demos), POST /predict answered by digits."""
    yield from serving(DEMO_ENV)


def test_every_page_follows_the_convention() -> None:
    problems = [problem for page in PAGES for problem in page.problems]
    assert not problems, "\n".join(problems)


def test_the_collector_walks_the_readme_and_every_page() -> None:
    walked = {page.name for page in PAGES}
    assert "README.md" in walked and len(walked) == 1 + len(list(DOCS.rglob("*.md")))
    assert len([page for page in PAGES if page.examples]) >= 10  # the parser found the examples


@pytest.mark.parametrize("page", page_params())
def test_the_page_prints_what_it_shows(page: Page, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    assert page.session in SESSIONS | {None}, f"{page.name}: unknown session {page.session!r}"
    if page.session is None:
        server = request.getfixturevalue("demo_server")
        failures = run_alone_examples(page, Addresses({8000: server.port, 8001: server.grpc_port}))
    else:
        failures = run_session(page, tmp_path)
    assert not failures, f"{page.name}:\n" + "\n\n".join(failures)


def run_alone_examples(page: Page, addresses: Addresses) -> list[str]:
    failures = []
    for step in page.examples:
        if not step.skip:
            failures += judge(page, step.line, step.shown, run_alone(step.kind, step.code, addresses))
    return failures


def run_session(page: Page, folder: Path) -> list[str]:
    for copied in SESSION_COPIES:
        shutil.copytree(ROOT / copied, folder / copied, symlinks=True)
    server = None
    if page.session == "demo":
        server = serving({**DEMO_ENV, "MODEL_REPOSITORY": str(folder / "models")})
        running = next(server)
        addresses = Addresses({8000: running.port, 8001: running.grpc_port, 9090: free_port()})
    else:
        addresses = Addresses({8000: free_port(), 8001: free_port(), 9090: free_port()})
    for config in (folder / "deploy" / "monitoring").glob("*.yml"):
        config.write_text(addresses.to_test(config.read_text()))
    shell = Shell(folder, addresses)
    try:
        for step in page.steps:
            if step.skip:
                continue
            printed = shell.run("bash" if step.kind == "hidden" else step.kind, step.code)
            failures = judge(page, step.line, step.shown, printed)
            if failures:
                return failures  # the steps after it build on it
        return []
    finally:
        shell.stop()
        if server is not None:
            server.close()


def judge(page: Page, line: int, shown, printed: Printed) -> list[str]:
    where = f"line {line}"
    if printed.status != 0:
        return [f"{where}: exit status {printed.status}\nstdout: {printed.stdout[-2000:]}\n"
                f"stderr: {printed.stderr[-3000:]}"]  # fmt: skip
    if shown is None:
        return []
    found = differences(shown, printed.stdout, page.tolerance)
    return [f"{where}: {difference}" for difference in found]


def test_make_walkthrough_runs_the_tensorflow_pages_and_ci_runs_it() -> None:
    tensorflow_pages = {page.name for page in PAGES if page.session == "tensorflow"}
    assert tensorflow_pages == {"docs/walkthrough.md", "docs/text-walkthrough.md", "docs/export/transformers.md"}
    assert "-m walkthrough tests/integration/docs/test_doc_examples.py" in (ROOT / "Makefile").read_text()
    assert re.search(r"^(step )?make walkthrough$", (ROOT / ".ci" / "run").read_text(), re.MULTILINE)
