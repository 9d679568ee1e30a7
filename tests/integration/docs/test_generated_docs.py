"""The docs pages generated from the code match the code: the configuration table (Settings), the OpenAPI reference
(the app's document), the module map (the modules' docstrings) and the latest performance tables (the bench run's
JSON, rendered by bench/report.py). A difference means: regenerate (make docs-reference; python -m bench.report
--docs)."""

from __future__ import annotations

import json

import pytest

from bench.report import DOCS_PAGE, DOCS_RUN, docs_page
from docs import gen_reference
from service.server.usage import setting_rows


@pytest.fixture(scope="module")
def generated() -> dict:
    return gen_reference.generated()


@pytest.mark.parametrize(
    "page",
    [gen_reference.CONFIGURATION, gen_reference.OPENAPI_JSON, gen_reference.OPENAPI_PAGE, gen_reference.ARCHITECTURE],
    ids=lambda path: path.name,
)
def test_the_generated_page_matches_the_code(generated: dict, page) -> None:
    assert page.read_text() == generated[page], f"{page} differs from the code: run `make docs-reference`"


def test_the_configuration_page_has_every_setting_with_its_default_and_meaning() -> None:
    page = gen_reference.CONFIGURATION.read_text()
    for name, default, meaning in setting_rows():
        assert meaning, f"{name} has no description in Settings"
        assert f"| `{name}` | {f'`{default}`' if default else '(empty)'} | {meaning} |" in page


def test_the_openapi_reference_is_the_apps_document() -> None:
    assert json.loads(gen_reference.OPENAPI_JSON.read_text()) == gen_reference.openapi_document()


def test_the_latest_performance_tables_are_the_bench_runs_rendering() -> None:
    run = json.loads(DOCS_RUN.read_text())
    assert DOCS_PAGE.read_text() == docs_page(run), "run `python -m bench.report --docs`"
    first_line = docs_page(run).split("\n\n")[3]  # after the title, the marker and the introduction
    assert run["date"] in first_line and run["machine"]["cpu"] in first_line and "load average" in first_line
