"""Bucket configuration over S3: lifecycle rules (``core/lifecycle.py``) and CORS rules
(``core/cors.py``), S3's XML to and from the documents the service keeps."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from starlette.responses import Response

from xolo.api.s3 import xml
from xolo.api.s3.context import S3Request
from xolo.core.cors import CorsRule
from xolo.core.errors import MalformedXML, NotImplementedByXolo
from xolo.core.lifecycle import Rule


def _int(node: ET.Element | None, name: str) -> int | None:
    if node is None:
        return None
    value = xml.text(node, name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise MalformedXML(f"{name} must be an integer") from None


def _tags(nodes: list[ET.Element]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for tag in nodes:
        key = xml.text(tag, "Key")
        if key is None:
            raise MalformedXML("each Tag needs a Key")
        tags[key] = xml.text(tag, "Value") or ""
    return tags


KNOWN = {
    "Rule": {
        "ID",
        "Filter",
        "Prefix",
        "Status",
        "Expiration",
        "NoncurrentVersionExpiration",
        "AbortIncompleteMultipartUpload",
    },
    "Filter": {"Prefix", "Tag", "And"},
    "And": {"Prefix", "Tag"},
    "Expiration": {"Days", "Date"},
    "NoncurrentVersionExpiration": {"NoncurrentDays"},
    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation"},
}
"""The elements a rule may hold here. Anything else (transitions, size filters,
NewerNoncurrentVersions, ExpiredObjectDeleteMarker) is refused, never ignored: a rule read
with one of its conditions dropped would delete more than its author asked."""


def _refuse_unknown(node: ET.Element) -> None:
    allowed = KNOWN.get(node.tag)
    if allowed is None:
        return
    for child in node:
        if child.tag not in allowed:
            raise NotImplementedByXolo(f"lifecycle {child.tag} is not supported here")
        _refuse_unknown(child)


def _filter(rule: ET.Element) -> tuple[str, dict[str, str]]:
    """(prefix, tags) of a rule's Filter, or of the older Rule-level Prefix."""
    found = rule.find("Filter")
    if found is None:
        return xml.text(rule, "Prefix") or "", {}
    both = found.find("And")
    node = both if both is not None else found
    return xml.text(node, "Prefix") or "", _tags(node.findall("Tag"))


def parse_rules(body: bytes) -> list[dict[str, Any]]:
    """The rules of a ``LifecycleConfiguration`` document, as ``core/lifecycle.py`` reads them."""
    doc = xml.parse(body, "LifecycleConfiguration")
    rules = []
    for rule in doc.findall("Rule"):
        _refuse_unknown(rule)
        status = xml.text(rule, "Status")
        if status not in ("Enabled", "Disabled"):
            raise MalformedXML("each Rule needs a Status of Enabled or Disabled")
        prefix, tags = _filter(rule)
        expiration = rule.find("Expiration")
        rules.append(
            {
                "id": xml.text(rule, "ID") or "",
                "enabled": status == "Enabled",
                "prefix": prefix,
                "tags": tags,
                "expiration_days": _int(expiration, "Days"),
                "expiration_date": xml.text(expiration, "Date") if expiration is not None else None,
                "noncurrent_days": _int(rule.find("NoncurrentVersionExpiration"), "NoncurrentDays"),
                "abort_days": _int(
                    rule.find("AbortIncompleteMultipartUpload"), "DaysAfterInitiation"
                ),
            }
        )
    return rules


def _rule_xml(rule: Rule) -> str:
    tags = [xml.raw("Tag", xml.el("Key", k), xml.el("Value", v)) for k, v in rule.tags.items()]
    if tags:
        inner = [xml.el("Prefix", rule.prefix)] if rule.prefix else []
        filt = xml.raw(
            "Filter", xml.raw("And", *inner, *tags) if inner or len(tags) > 1 else tags[0]
        )
    else:
        filt = xml.raw("Filter", xml.el("Prefix", rule.prefix))
    parts = [
        xml.el("ID", rule.id),
        filt,
        xml.el("Status", "Enabled" if rule.enabled else "Disabled"),
    ]
    if rule.expiration_days is not None:
        parts.append(xml.raw("Expiration", xml.el("Days", rule.expiration_days)))
    if rule.expiration_date is not None:
        parts.append(xml.raw("Expiration", xml.el("Date", xml.iso(rule.expiration_date))))
    if rule.noncurrent_days is not None:
        parts.append(
            xml.raw("NoncurrentVersionExpiration", xml.el("NoncurrentDays", rule.noncurrent_days))
        )
    if rule.abort_days is not None:
        parts.append(
            xml.raw(
                "AbortIncompleteMultipartUpload", xml.el("DaysAfterInitiation", rule.abort_days)
            )
        )
    return xml.raw("Rule", *parts)


async def put_lifecycle(r: S3Request) -> Response:
    """PutBucketLifecycleConfiguration: replace the bucket's lifecycle rules with the document's."""
    await r.require("admin")
    rules = parse_rules(await r.body().read(xml.MAX_XML))
    await r.service.set_lifecycle(r.bucket, rules)
    return Response()


async def get_lifecycle(r: S3Request) -> Response:
    """GetBucketLifecycleConfiguration: the bucket's rules as S3's XML."""
    await r.require("admin")
    rules = await r.service.get_lifecycle(r.bucket)
    return xml.xml_response(
        xml.document("LifecycleConfiguration", *(_rule_xml(rule) for rule in rules))
    )


async def delete_lifecycle(r: S3Request) -> Response:
    """DeleteBucketLifecycle: drop every lifecycle rule of the bucket."""
    await r.require("admin")
    await r.service.delete_lifecycle(r.bucket)
    return Response(status_code=204)


# -- CORS -----------------------------------------------------------------------------------------

_CORS_LISTS = {
    "AllowedOrigin": "allowed_origins",
    "AllowedMethod": "allowed_methods",
    "AllowedHeader": "allowed_headers",
    "ExposeHeader": "expose_headers",
}


def parse_cors(body: bytes) -> list[dict[str, Any]]:
    """The rules of a ``CORSConfiguration`` document, as ``core/cors.py`` reads them."""
    doc = xml.parse(body, "CORSConfiguration")
    rules: list[dict[str, Any]] = []
    for node in doc.findall("CORSRule"):
        rule: dict[str, Any] = {
            field: [child.text or "" for child in node.findall(element)]
            for element, field in _CORS_LISTS.items()
        }
        rule["id"] = xml.text(node, "ID") or ""
        rule["max_age"] = _int(node, "MaxAgeSeconds")
        rules.append(rule)
    return rules


def _cors_xml(rule: CorsRule) -> str:
    parts = [xml.el("ID", rule.id)] if rule.id else []
    parts += [xml.el("AllowedHeader", h) for h in rule.allowed_headers]
    parts += [xml.el("AllowedMethod", m) for m in rule.allowed_methods]
    parts += [xml.el("AllowedOrigin", o) for o in rule.allowed_origins]
    parts += [xml.el("ExposeHeader", h) for h in rule.expose_headers]
    if rule.max_age is not None:
        parts.append(xml.el("MaxAgeSeconds", rule.max_age))
    return xml.raw("CORSRule", *parts)


async def put_cors(r: S3Request) -> Response:
    """PutBucketCors: replace the bucket's CORS rules with the document's."""
    await r.require("admin")
    await r.service.set_cors(r.bucket, parse_cors(await r.body().read(xml.MAX_XML)))
    return Response()


async def get_cors(r: S3Request) -> Response:
    """GetBucketCors: the bucket's CORS rules as S3's XML."""
    await r.require("admin")
    rules = await r.service.get_cors(r.bucket)
    return xml.xml_response(xml.document("CORSConfiguration", *(_cors_xml(x) for x in rules)))


async def delete_cors(r: S3Request) -> Response:
    """DeleteBucketCors: drop the bucket's CORS rules; cross-origin browsers are refused again."""
    await r.require("admin")
    await r.service.delete_cors(r.bucket)
    return Response(status_code=204)
