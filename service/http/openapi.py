"""Make the OpenAPI document say what the server really answers, for clients and for the API fuzz test.

- FastAPI documents 422 with its own validation body; our handler answers `{"error": str}` instead.
- With API keys on: an HTTP bearer security scheme (Swagger UI's "Authorize" button), `security: []` on
  the open paths, and a 401 `{"error": str}` response on every protected operation.
- Every operation that reads a body can answer 415 (a Content-Encoding is refused by the middleware).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from ..protocols.http_adapter import ERROR_SCHEMA
from .api_keys import is_open

SCHEME = "bearer"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def error_entry(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_SCHEMA}}}


def patch_document(document: dict[str, Any], api_keys: bool) -> dict[str, Any]:
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = error_entry("The path or query parameters are not valid")
            if "requestBody" in operation:
                responses.setdefault("415", error_entry("Unsupported content type or content encoding"))
            if api_keys:
                if is_open(path):
                    operation["security"] = []
                else:
                    responses["401"] = error_entry("Missing or invalid API key")
    schemas = document.get("components", {}).get("schemas", {})
    text = str(document.get("paths"))
    for name in FASTAPI_VALIDATION_SCHEMAS:
        if f"#/components/schemas/{name}'" not in text:
            schemas.pop(name, None)
    if api_keys:
        components = document.setdefault("components", {})
        components.setdefault("securitySchemes", {})[SCHEME] = {
            "type": "http",
            "scheme": "bearer",
            "description": "One of the keys in API_KEYS / API_KEYS_FILE.",
        }
        document["security"] = [{SCHEME: []}]
    return document


def document_errors_and_security(app: FastAPI, api_keys: bool) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = patch_document(generate(), api_keys)
        return app.openapi_schema

    app.openapi = openapi
