"""The OpenAPI and route tables agree: every served path and method is documented, and nothing
documented is missing; the document is valid OpenAPI 3.1 (its schemas are valid JSON Schema)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import jsonschema

from xolo.api.app import ALL_METHODS
from xolo.api.openapi import openapi_document


def served(tmp_path: Path) -> set[tuple[str, str]]:
    import xolo.cli.serve as serve

    os.environ["XOLO_SERVE_CONFIG"] = json.dumps(
        {"data": str(tmp_path), "inline_threshold": 1024, "chunk_size": 65536, "s3_port": 0}
    )
    app = serve.create_app()
    out = set()
    for route in app.routes:  # type: ignore[attr-defined]
        path = re.sub(r"\{(\w+):path\}", r"{\1}", route.path)
        out |= {(path, m.lower()) for m in route.endpoint.methods}
    return out


def test_every_served_route_is_documented_and_nothing_else(tmp_path: Path) -> None:
    doc = openapi_document("test")
    documented = {
        (path, method)
        for path, item in doc["paths"].items()
        for method in item
        if method.upper() in ALL_METHODS
    }
    assert documented == served(tmp_path)


def test_every_schema_in_the_document_is_valid_json_schema() -> None:
    doc = openapi_document("test")
    assert doc["openapi"] == "3.1.0"
    for schema in doc["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    for item in doc["paths"].values():
        for method, op in item.items():
            if method == "parameters":
                continue
            assert op["responses"], method
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body and "$ref" not in body["schema"]:
                jsonschema.Draft202012Validator.check_schema(body["schema"])
