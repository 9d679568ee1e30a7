"""Walks an OpenAPI document: the operations, their examples, and ready-to-send requests built from them."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

METHODS = ("get", "put", "post", "delete", "patch")


@dataclass
class Operation:
    method: str
    path: str
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.method.upper()} {self.path}"

    def path_parameter_examples(self) -> dict[str, Any]:
        """{name: first example} for every path parameter that has one."""
        found = {}
        for parameter in self.spec.get("parameters", []):
            if parameter["in"] == "path":
                value = first_example(parameter)
                if value is None:
                    value = first_example(parameter.get("schema", {}))
                if value is not None:
                    found[parameter["name"]] = value
        return found

    def path_parameters(self) -> list[str]:
        return [p["name"] for p in self.spec.get("parameters", []) if p["in"] == "path"]

    def request_examples(self) -> list[Any]:
        media = self.spec.get("requestBody", {}).get("content", {}).get("application/json", {})
        return all_examples(media) or all_examples(media.get("schema", {}))

    def has_body(self) -> bool:
        return "requestBody" in self.spec

    def success_example(self) -> Any:
        for status in ("200", "201", "202"):
            media = self.spec.get("responses", {}).get(status, {}).get("content", {}).get("application/json")
            if media is not None:
                return first_example(media)
        return None

    def url(self) -> str:
        url = self.path
        for name, value in self.path_parameter_examples().items():
            url = url.replace("{" + name + "}", str(value))
        return url


def operations(openapi: dict[str, Any]) -> list[Operation]:
    return [
        Operation(method, path, spec)
        for path, item in openapi["paths"].items()
        for method, spec in item.items()
        if method in METHODS
    ]


def all_examples(holder: dict[str, Any]) -> list[Any]:
    if "examples" in holder:
        examples = holder["examples"]
        # An OpenAPI `examples` map ({key: {value}}) or a JSON Schema `examples` list.
        return [e["value"] for e in examples.values()] if isinstance(examples, dict) else list(examples)
    return [holder["example"]] if "example" in holder else []


def first_example(holder: dict[str, Any]) -> Any:
    examples = all_examples(holder)
    return examples[0] if examples else None


def missing_examples(operation: Operation) -> list[str]:
    """What a person pressing "Try it out" would have to type in by hand."""
    with_example = operation.path_parameter_examples()
    missing = [f"path parameter {{{n}}}" for n in operation.path_parameters() if n not in with_example]
    if operation.has_body() and not operation.request_examples():
        missing.append("request body")
    if operation.success_example() is None:
        missing.append("success response")
    return missing


class AssetLinks(HTMLParser):
    """The URLs a page loads: <script src>, <link href>, <img src>."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


def asset_urls(html: str) -> list[str]:
    parser = AssetLinks()
    parser.feed(html)
    return parser.urls
