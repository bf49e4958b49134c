"""The AsyncAPI document of the change feed, served at ``/asyncapi.json`` beside ``/openapi.json``.

It describes the one channel (a bucket's events over SSE), its filters, and the message every
delivery carries, whether it arrives by SSE, webhook, NATS or Redis.
"""

from __future__ import annotations

from typing import Any

from xolo.core.events import TYPES


def event_schema() -> dict[str, Any]:
    """The JSON Schema of one change event: the payload every delivery carries, by SSE, webhook,
    NATS or Redis alike."""
    nullable_string = {"type": ["string", "null"]}
    nullable_int = {"type": ["integer", "null"]}
    return {
        "type": "object",
        "required": ["type", "bucket", "sequence", "time", "mac"],
        "properties": {
            "type": {"type": "string", "enum": list(TYPES)},
            "bucket": {"type": "string"},
            "key": nullable_string,
            "size": nullable_int,
            "etag": nullable_string,
            "sha256": nullable_string,
            "version": nullable_string,
            "actor": nullable_string,
            "sequence": {
                "type": "integer",
                "minimum": 1,
                "description": "Gap-free per bucket: the audit entry's sequence",
            },
            "time": {"type": "number", "description": "POSIX seconds"},
            "mac": {"type": "string", "description": "The audit entry's HMAC-SHA256 (hex)"},
        },
        "additionalProperties": False,
    }


def asyncapi_document(version: str) -> dict[str, Any]:
    """The document (AsyncAPI 3.0)."""
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "xolo change feed",
            "version": version,
            "description": (
                "Every change to a bucket, in order, at least once: the bucket's audit chain read "
                "forward. Resume from any sequence with Last-Event-ID."
            ),
        },
        "servers": {
            "xolo": {
                "host": "127.0.0.1:9000",
                "protocol": "http",
                "description": "Any router (or xolo serve); the same feed on each",
            }
        },
        "channels": {
            "bucketEvents": {
                "address": "/v1/events?bucket={bucket}",
                "description": (
                    "Server-Sent Events: 'id:' the sequence, 'event:' the type, 'data:' the "
                    "event as JSON. Query: prefix (keys), types (comma-separated), start=end "
                    "(from now on); header Last-Event-ID resumes after that sequence. Needs read "
                    "access to the bucket. A comment line every 15 s keeps idle streams open."
                ),
                "parameters": {"bucket": {"description": "The bucket to follow"}},
                "messages": {"event": {"$ref": "#/components/messages/event"}},
            }
        },
        "operations": {
            "receiveEvents": {
                "action": "receive",
                "channel": {"$ref": "#/channels/bucketEvents"},
                "messages": [{"$ref": "#/channels/bucketEvents/messages/event"}],
            }
        },
        "components": {
            "messages": {
                "event": {
                    "name": "event",
                    "title": "A change",
                    "contentType": "application/json",
                    "payload": event_schema(),
                    "description": (
                        "Webhooks receive the same JSON as a POST with X-Xolo-Event, "
                        "X-Xolo-Delivery (bucket:sequence) and X-Xolo-Signature (sha256=HMAC of "
                        "the body); NATS JetStream on <subject>.<bucket>.<type> with "
                        "Nats-Msg-Id; Redis Streams entries {id, type, data}."
                    ),
                }
            }
        },
    }
