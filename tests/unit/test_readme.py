"""README.md is a landing page: short, the two commands in their own section, one example whose output is real
(the docs' example collector runs it), and links that lead into the docs site."""

from __future__ import annotations

import re

import yaml

from tests.support.docs_examples import parse_page
from tests.support.server import ROOT

README = (ROOT / "README.md").read_text()
MAX_LINES = 200


def section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_is_a_landing_page() -> None:
    assert len(README.splitlines()) <= MAX_LINES


def test_the_two_commands_are_in_their_section_as_commands() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", section("The two commands"), re.DOTALL)
    assert len(blocks) == 1
    commands = [line.split("#")[0].strip() for line in blocks[0].splitlines()]
    assert commands == ["make run", "make test"]


def test_the_curl_shows_its_output_for_the_collector_to_check() -> None:
    """The docs' example collector runs this curl against `make run`'s server and compares the JSON."""
    examples = parse_page(ROOT / "README.md", "README.md").examples
    assert len(examples) == 1
    (example,) = examples
    assert example.code.startswith("curl -s -X POST localhost:8000/predict")
    assert example.shown is not None and example.shown.language == "json"
    assert example.shown.text.strip() in section("Try it")


def test_every_link_leads_to_a_page_of_the_site() -> None:
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    pages = set(re.findall(r"[\w/.-]+\.md", str(nav)))
    links = [link.split("#")[0] for link in re.findall(r"\]\(([^)]+)\)", README) if "://" not in link]
    assert len(links) > 20
    for link in links:
        assert (ROOT / link).is_file(), link
        assert link.removeprefix("docs/") in pages, f"{link} is not in the site's navigation"
