"""The OpenAPI document of the native API, served at ``/openapi.json``.

Built from one table (``OPERATIONS``) rather than generated from the handlers, which are plain
Starlette functions chosen for speed; ``tests/unit/test_openapi.py`` checks that the table and
the route table name the same paths and methods, and schemathesis checks the server against it.
"""

from __future__ import annotations

from typing import Any

from xolo.api.http import MAX_COUNTER

ERROR_CODES = ("400", "401", "403", "404", "405", "409", "412", "416", "503")
"""Every operation may answer these, each with the JSON error document."""

_STRING = {"type": "string"}
_INT = {"type": "integer"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "request_id"],
                "properties": {"code": _STRING, "message": _STRING, "request_id": _STRING},
            }
        },
    },
    "BucketSettings": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "replication": {"type": ["integer", "null"], "minimum": 1, "maximum": 16},
            "write_quorum": {"type": ["integer", "null"], "minimum": 1, "maximum": 16},
            "public_read": {"type": "boolean"},
            "versioning": {"type": "string", "enum": ["Enabled", "Suspended"]},
        },
    },
    "Bucket": {
        "type": "object",
        "required": ["name", "created", "settings", "object_count", "bytes"],
        "properties": {
            "name": _STRING,
            "created": _STRING,
            "settings": _ref("BucketSettings"),
            "object_count": _INT,
            "bytes": _INT,
            "versioning": {"type": ["string", "null"], "enum": ["Enabled", "Suspended", None]},
        },
    },
    "Object": {
        "type": "object",
        "required": ["bucket", "key", "etag", "size", "version"],
        "properties": {
            "bucket": _STRING,
            "key": _STRING,
            "etag": _STRING,
            "size": _INT,
            "sha256": {"type": ["string", "null"]},
            "content_type": _STRING,
            "modified": _STRING,
            "version": _STRING,
            "version_id": _STRING,
        },
    },
    "Grants": {
        "type": "object",
        "additionalProperties": {"type": "string", "enum": ["read", "write", "admin"]},
    },
    "Key": {
        "type": "object",
        "required": ["access_key", "grants", "root", "disabled"],
        "properties": {
            "access_key": _STRING,
            "secret_key": _STRING,
            "grants": _ref("Grants"),
            "root": {"type": "boolean"},
            "disabled": {"type": "boolean"},
            "created": _STRING,
        },
    },
    "Verdict": {
        "type": "object",
        "required": ["valid", "entries", "first_broken"],
        "properties": {
            "valid": {"type": "boolean"},
            "entries": _INT,
            "first_broken": {"type": ["object", "null"]},
        },
    },
}

BODIES: dict[str, dict[str, Any]] = {
    "settings": _ref("BucketSettings"),
    "token": {"type": "object", "properties": {"ttl": {"type": "number"}}},
    "upload": {
        "type": "object",
        "required": ["key", "size", "sha256"],
        "properties": {
            "key": _STRING,
            "size": _INT,
            "sha256": _STRING,
            "content_type": _STRING,
            "tags": {"type": "object", "additionalProperties": _STRING},
        },
    },
    "staging": {
        "type": "object",
        "required": ["staging", "final"],
        "properties": {"staging": _STRING, "final": _STRING},
    },
    "direct": {
        "type": "object",
        "required": ["chunks"],
        "properties": {"chunks": {"type": "array", "items": {"type": "array"}}},
    },
    "manifest": {
        "type": "object",
        "required": ["chunks", "plan"],
        "properties": {
            "chunks": {"type": "array", "items": {"type": "array"}},
            "plan": _STRING,
            "receipts": {"type": "object", "additionalProperties": _STRING},
            "proofs": {"type": "object", "additionalProperties": _STRING},
            "content_type": _STRING,
            "metadata": {"type": "object", "additionalProperties": _STRING},
        },
    },
    "tags": {
        "type": "object",
        "required": ["tags"],
        "properties": {"tags": {"type": "object", "additionalProperties": _STRING}},
    },
    "key": {"type": "object", "properties": {"grants": _ref("Grants")}},
    "key_update": {
        "type": "object",
        "properties": {"grants": _ref("Grants"), "disabled": {"type": "boolean"}},
    },
    "grant": {
        "type": "object",
        "required": ["level"],
        "properties": {"level": {"type": "string", "enum": ["read", "write", "admin"]}},
    },
    "presign": {
        "type": "object",
        "required": ["method", "bucket", "key"],
        "properties": {
            "method": {"type": "string", "enum": ["GET", "HEAD", "PUT", "DELETE"]},
            "bucket": _STRING,
            "key": _STRING,
            "expires": _INT,
        },
    },
    "notify": {
        "type": "object",
        "required": ["kind", "url", "bucket"],
        "properties": {
            "kind": {"type": "string", "enum": ["webhook", "nats", "redis"]},
            "url": _STRING,
            "bucket": _STRING,
            "prefix": _STRING,
            "types": {"type": "array", "items": _STRING},
            "subject": _STRING,
            "after": _INT,
        },
    },
    "names": {"type": "array", "items": _STRING},
    "scrub": {"type": "object", "properties": {"names": {"type": "array", "items": _STRING}}},
}

# (path, method, summary, success statuses, success schema, request body, query parameters)
Row = tuple[str, str, str, tuple[str, ...], str | None, str | None, tuple[str, ...]]

OPERATIONS: list[Row] = [
    ("/health", "get", "liveness, role, version, uptime, free disk", ("200",), None, None, ()),
    ("/metrics", "get", "Prometheus metrics", ("200",), None, None, ()),
    ("/openapi.json", "get", "this document", ("200",), None, None, ()),
    ("/asyncapi.json", "get", "the change feed's AsyncAPI document", ("200",), None, None, ()),
    ("/v1/auth/token", "post", "a bearer token with the caller's grants", ("200",), None, "token", ()),
    ("/v1/buckets", "get", "the buckets the caller may read", ("200",), None, None, ()),
    ("/v1/buckets/{bucket}", "put", "create a bucket, or change the settings named", ("200", "201"), "Bucket", "settings", ()),
    ("/v1/buckets/{bucket}", "get", "settings, object count and bytes", ("200",), "Bucket", None, ()),
    ("/v1/buckets/{bucket}", "delete", "delete an empty bucket", ("204",), None, None, ()),
    ("/v1/buckets/{bucket}/objects", "get", "objects and common prefixes in byte order; with ?versions every version and delete marker", ("200",), None, None, ("prefix", "delimiter", "start_after", "limit", "cursor", "versions", "key_marker", "version_id_marker")),
    ("/v1/buckets/{bucket}/objects/{key}", "put", "store an object, or copy one (X-Xolo-Copy-Source)", ("200",), "Object", None, ()),
    ("/v1/buckets/{bucket}/objects/{key}", "post", "append to an object, creating it if absent", ("200",), "Object", None, ()),
    ("/v1/buckets/{bucket}/objects/{key}", "get", "an object or a byte range (of version_id)", ("200", "206", "304"), None, None, ("version_id",)),
    ("/v1/buckets/{bucket}/objects/{key}", "head", "an object's headers", ("200", "206", "304"), None, None, ("version_id",)),
    ("/v1/buckets/{bucket}/objects/{key}", "delete", "delete an object (a delete marker when versioned), or one version_id for good", ("204",), None, None, ("version_id",)),
    ("/v1/buckets/{bucket}/tags/{key}", "get", "an object version's tags", ("200",), None, None, ("version_id",)),
    ("/v1/buckets/{bucket}/tags/{key}", "put", "replace an object version's tags", ("200",), None, "tags", ("version_id",)),
    ("/v1/buckets/{bucket}/tags/{key}", "delete", "remove an object version's tags", ("200",), None, None, ("version_id",)),
    ("/v1/buckets/{bucket}/uploads", "post", "declare a two-step upload", ("201",), None, "upload", ()),
    ("/v1/buckets/{bucket}/direct", "post", "plan a direct transfer: signed chunk URLs on the peers", ("200",), None, "direct", ()),
    ("/v1/buckets/{bucket}/staging", "post", "make a staged batch visible under its final prefix, all at once", ("200",), None, "staging", ()),
    ("/v1/buckets/{bucket}/direct/{key}", "get", "where each chunk of an object may be read directly: signed URLs", ("200",), None, None, ("version_id",)),
    ("/v1/buckets/{bucket}/manifests/{key}", "put", "commit an object whose chunks were written directly", ("200",), "Object", "manifest", ()),
    ("/v1/uploads/{upload_id}", "put", "send a declared upload's bytes", ("200",), "Object", None, ()),
    ("/v1/buckets/{bucket}/audit", "get", "a page of the bucket's audit chain", ("200",), None, None, ("after", "limit")),
    ("/v1/buckets/{bucket}/audit/verify", "post", "replay the bucket's audit chain", ("200",), "Verdict", None, ()),
    ("/v1/admin/audit", "get", "a page of the system chain (keys)", ("200",), None, None, ("after", "limit")),
    ("/v1/admin/audit/verify", "post", "replay the system chain", ("200",), "Verdict", None, ()),
    ("/v1/presign", "post", "a URL for one method on one object", ("200",), None, "presign", ()),
    ("/v1/events", "get", "the change feed (Server-Sent Events; see /asyncapi.json)", ("200",), None, None, ("bucket", "prefix", "types", "after", "start")),
    ("/v1/admin/notify", "get", "notification targets", ("200",), None, None, ()),
    ("/v1/admin/notify", "post", "deliver a bucket's events somewhere", ("201",), None, "notify", ()),
    ("/v1/admin/notify/{target_id}", "get", "one target", ("200",), None, None, ()),
    ("/v1/admin/notify/{target_id}", "patch", "revive a dead target", ("200",), None, None, ()),
    ("/v1/admin/notify/{target_id}", "delete", "remove a target", ("204",), None, None, ()),
    ("/v1/admin/keys", "get", "the keys the caller manages", ("200",), None, None, ()),
    ("/v1/admin/keys", "post", "a new key (its secret, once)", ("201",), "Key", "key", ()),
    ("/v1/admin/keys/{access_key}", "get", "one key", ("200",), "Key", None, ()),
    ("/v1/admin/keys/{access_key}", "patch", "change grants, disable or enable", ("200",), "Key", "key_update", ()),
    ("/v1/admin/keys/{access_key}", "delete", "delete a key", ("204",), None, None, ()),
    ("/v1/admin/keys/{access_key}/grants/{bucket}", "put", "add or change one grant", ("200",), "Key", "grant", ()),
    ("/v1/admin/keys/{access_key}/grants/{bucket}", "delete", "remove one grant", ("200",), "Key", None, ()),
    ("/v1/admin/peers", "get", "peers and their states", ("200",), None, None, ()),
    ("/v1/admin/peers/{peer_id}", "get", "one peer", ("200",), None, None, ()),
    ("/v1/admin/peers/{peer_id}/drain", "post", "start draining a peer", ("202",), None, None, ()),
    ("/v1/admin/peers/{peer_id}/drain", "delete", "stop draining a peer", ("200",), None, None, ()),
    ("/v1/admin/tasks", "get", "background tasks", ("200",), None, None, ()),
    ("/v1/admin/tasks/{name}/run", "post", "run a background task now", ("200",), None, None, ()),
    ("/v1/chunks", "get", "chunk inventory in name order", ("200",), None, None, ("after", "limit")),
    ("/v1/chunks/has", "post", "which chunks are stored", ("200",), None, "names", ()),
    ("/v1/chunks/doom", "post", "GC phase one: mark chunks", ("200",), None, "names", ()),
    ("/v1/chunks/delete", "post", "GC phase two: delete marked chunks", ("200",), None, "names", ()),
    ("/v1/chunks/scrub", "post", "re-hash chunks, quarantine bad copies", ("200",), None, "scrub", ()),
    ("/v1/chunks/usage", "get", "bytes and chunks stored", ("200",), None, None, ()),
    ("/v1/chunks/{sha256}", "put", "store a chunk named by its SHA-256", ("201",), None, None, ()),
    ("/v1/chunks/{sha256}", "get", "read a chunk (Range supported)", ("200", "206"), None, None, ()),
    ("/v1/chunks/{sha256}", "head", "a chunk's size", ("200",), None, None, ()),
]  # fmt: skip
"""Every operation the native API serves (routers and ``xolo serve``; the chunk routes are
those of peers and ``xolo serve``)."""

_COUNTER = {"type": "integer", "minimum": 0, "maximum": MAX_COUNTER}
_QUERY_TYPES: dict[str, dict[str, Any]] = {"limit": _COUNTER, "after": _COUNTER}


def _operation(row: Row) -> dict[str, Any]:
    path, method, summary, ok, schema, body, query = row
    responses: dict[str, Any] = {}
    for status in ok:
        response: dict[str, Any] = {"description": summary}
        if schema and method != "head":
            response.update(_json(_ref(schema)))
        responses[status] = response
    for status in ERROR_CODES:
        responses.setdefault(
            status,
            {"description": "an error"}
            if method == "head"
            else {"description": "an error", **_json(_ref("Error"))},
        )
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if path in ("/health",):
        op["security"] = []
    if body:
        op["requestBody"] = {"required": False, **_json(BODIES[body])}
    if query:
        op["parameters"] = [
            {
                "name": q,
                "in": "query",
                "required": False,
                "schema": _QUERY_TYPES.get(q, {"type": "string"}),
            }
            for q in query
        ]
    return op


def _path_parameters(path: str) -> list[dict[str, Any]]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    return [{"name": n, "in": "path", "required": True, "schema": _STRING} for n in names]


def openapi_document(version: str) -> dict[str, Any]:
    """The document (OpenAPI 3.1)."""
    paths: dict[str, Any] = {}
    for row in OPERATIONS:
        item = paths.setdefault(row[0], {})
        params = _path_parameters(row[0])
        if params:
            item["parameters"] = params
        item[row[1]] = _operation(row)
    return {
        "openapi": "3.1.0",
        "info": {"title": "xolo native API", "version": version},
        "components": {
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
            "schemas": SCHEMAS,
        },
        "security": [{"basic": []}, {"bearer": []}],
        "paths": paths,
    }
