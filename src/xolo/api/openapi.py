"""The OpenAPI document of the native API, served at ``/openapi.json``.

Written by hand rather than generated: the handlers are plain Starlette functions chosen for
speed on the hot path, and the document doubles as the reviewed contract (docs/api.md).
"""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/responses/Error"}


def _op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": summary, "responses": responses}
    out.update(extra)
    return out


def _param(name: str, where: str = "path", schema: str = "string", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": {"type": schema},
        **extra,
    }


_BUCKET = _param("bucket")
_KEY = _param("key", description="object key; may contain '/'")
_OBJECT = {"$ref": "#/components/schemas/Object"}
_JSON_OBJECT = {"content": {"application/json": {"schema": _OBJECT}}}


def openapi_document(version: str) -> dict[str, Any]:
    errors = {s: _ERROR for s in ("400", "401", "403", "404", "409", "412")}
    return {
        "openapi": "3.1.0",
        "info": {"title": "xolo native API", "version": version},
        "components": {
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
            "responses": {
                "Error": {
                    "description": "an error",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "request_id": {"type": "string"},
                            },
                        }
                    },
                },
                "Bucket": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "created": {"type": "string", "format": "date-time"},
                        "settings": {"$ref": "#/components/schemas/BucketSettings"},
                        "object_count": {"type": "integer"},
                        "bytes": {"type": "integer"},
                    },
                },
                "BucketSettings": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "replication": {"type": "integer", "minimum": 1, "maximum": 16},
                        "public_read": {"type": "boolean"},
                    },
                },
                "Object": {
                    "type": "object",
                    "properties": {
                        "bucket": {"type": "string"},
                        "key": {"type": "string"},
                        "etag": {"type": "string"},
                        "size": {"type": "integer"},
                        "sha256": {"type": ["string", "null"]},
                        "content_type": {"type": "string"},
                        "modified": {"type": "string", "format": "date-time"},
                        "version": {"type": "string"},
                    },
                },
            },
        },
        "security": [{"basic": []}, {"bearer": []}],
        "paths": {
            "/health": {
                "get": _op(
                    "liveness, role, version, uptime, free disk",
                    {"200": {"description": "ok"}},
                    security=[],
                )
            },
            "/metrics": {"get": _op("Prometheus metrics", {"200": {"description": "text format"}})},
            "/v1/auth/token": {
                "post": _op(
                    "issue a bearer token from the calling key",
                    {"200": {"description": "token"}, **errors},
                )
            },
            "/v1/buckets": {
                "get": _op("list buckets", {"200": {"description": "buckets"}, **errors})
            },
            "/v1/buckets/{bucket}": {
                "parameters": [_BUCKET],
                "put": _op(
                    "create a bucket or update its settings",
                    {
                        "200": {"description": "updated"},
                        "201": {"description": "created"},
                        **errors,
                    },
                ),
                "get": _op(
                    "bucket settings, object count and bytes",
                    {"200": {"description": "bucket"}, **errors},
                ),
                "delete": _op(
                    "delete an empty bucket", {"204": {"description": "deleted"}, **errors}
                ),
            },
            "/v1/buckets/{bucket}/objects": {
                "parameters": [_BUCKET],
                "get": _op(
                    "list objects and common prefixes in UTF-8 byte order",
                    {"200": {"description": "a page"}, **errors},
                    parameters=[
                        _param("prefix", "query"),
                        _param("delimiter", "query"),
                        _param("start_after", "query"),
                        _param("limit", "query", "integer"),
                        _param("cursor", "query"),
                    ],
                ),
            },
            "/v1/buckets/{bucket}/objects/{key}": {
                "parameters": [_BUCKET, _KEY],
                "put": _op(
                    "store an object (streamed), or copy one with X-Xolo-Copy-Source",
                    {"200": {"description": "stored", **_JSON_OBJECT}, **errors},
                    parameters=[
                        _param("X-Checksum-Sha256", "header"),
                        _param("X-Xolo-Copy-Source", "header"),
                        _param("X-Xolo-Metadata-Directive", "header"),
                        _param("X-Xolo-Tagging", "header"),
                        _param("If-Match", "header"),
                        _param("If-None-Match", "header"),
                    ],
                ),
                "post": _op(
                    "append to an object, creating it if absent",
                    {"200": {"description": "appended", **_JSON_OBJECT}, **errors},
                ),
                "get": _op(
                    "read an object or a byte range",
                    {
                        "200": {"description": "the bytes"},
                        "206": {"description": "a range"},
                        "304": {"description": "not modified"},
                        "416": _ERROR,
                        **errors,
                    },
                    parameters=[
                        _param("Range", "header"),
                        _param("If-Match", "header"),
                        _param("If-None-Match", "header"),
                        _param("If-Modified-Since", "header"),
                        _param("If-Unmodified-Since", "header"),
                    ],
                ),
                "head": _op(
                    "an object's headers",
                    {"200": {"description": "headers"}, "404": {"description": "absent"}},
                ),
                "delete": _op("delete an object", {"204": {"description": "deleted"}, **errors}),
            },
            "/v1/buckets/{bucket}/uploads": {
                "parameters": [_BUCKET],
                "post": _op(
                    "declare a two-step upload {key, size, sha256, content_type, tags}",
                    {"201": {"description": "upload id"}, **errors},
                ),
            },
            "/v1/uploads/{upload_id}": {
                "parameters": [_param("upload_id")],
                "put": _op(
                    "send the declared upload's bytes",
                    {"200": {"description": "stored", **_JSON_OBJECT}, **errors},
                ),
            },
            "/v1/chunks/has": {
                "post": _op(
                    "which of a JSON list of chunk names are stored",
                    {"200": {"description": "list of booleans"}, **errors},
                )
            },
            "/v1/chunks/{sha256}": {
                "parameters": [_param("sha256")],
                "put": _op(
                    "store a chunk named by its SHA-256",
                    {"201": {"description": "stored"}, **errors},
                ),
                "get": _op("read a chunk", {"200": {"description": "the bytes"}, **errors}),
                "head": _op(
                    "a chunk's size",
                    {"200": {"description": "headers"}, "404": {"description": "absent"}},
                ),
            },
        },
    }
