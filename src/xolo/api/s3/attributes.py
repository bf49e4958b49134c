"""Object tagging and GetObjectAttributes over S3: translations onto ObjectService."""

from __future__ import annotations

from starlette.responses import Response

from xolo.api.s3 import xml
from xolo.api.s3.context import S3Request
from xolo.api.s3.objects import version_headers, version_query
from xolo.core.conditions import format_http_date
from xolo.core.errors import InvalidArgument, InvalidTag, MalformedXML
from xolo.service.attributes import MAX_PARTS_PAGE

ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")
"""What ``x-amz-object-attributes`` may name."""


def parse_tagging(body: bytes) -> dict[str, str]:
    """A ``<Tagging><TagSet><Tag>`` document; a key given twice is InvalidTag, as in S3."""
    doc = xml.parse(body, "Tagging")
    tag_set = doc.find("TagSet")
    if tag_set is None:
        raise MalformedXML("the Tagging document needs a TagSet")
    tags: dict[str, str] = {}
    for tag in tag_set.findall("Tag"):
        key, value = xml.text(tag, "Key"), xml.text(tag, "Value")
        if key is None:
            raise MalformedXML("each Tag needs a Key")
        if key in tags:
            raise InvalidTag("Cannot provide multiple Tags with the same key")
        tags[key] = value or ""
    return tags


async def get_tagging(r: S3Request) -> Response:
    """GetObjectTagging: an object version's tags as a ``Tagging`` document."""
    await r.require("read")
    record = await r.service.get_tags(r.bucket, r.key, version_id=version_query(r))
    body = xml.document(
        "Tagging",
        xml.raw(
            "TagSet",
            *(xml.raw("Tag", xml.el("Key", k), xml.el("Value", v)) for k, v in record.tags.items()),
        ),
    )
    return xml.xml_response(body, headers=version_headers(record, asked=True))


async def put_tagging(r: S3Request) -> Response:
    """PutObjectTagging: replace an object version's tags with the document's."""
    await r.require("write")
    tags = parse_tagging(await r.body().read(xml.MAX_XML))
    record = await r.service.put_tags(r.bucket, r.key, tags, version_id=version_query(r))
    return Response(headers=version_headers(record, asked=True))


async def delete_tagging(r: S3Request) -> Response:
    """DeleteObjectTagging: clear an object version's tags."""
    await r.require("write")
    record = await r.service.delete_tags(r.bucket, r.key, version_id=version_query(r))
    return Response(status_code=204, headers=version_headers(record, asked=True))


def _wanted(r: S3Request) -> list[str]:
    raw = r.request.headers.get("x-amz-object-attributes", "")
    wanted = [a.strip() for a in raw.split(",") if a.strip()]
    if not wanted:
        raise InvalidArgument("x-amz-object-attributes must name at least one attribute")
    unknown = [a for a in wanted if a not in ATTRIBUTES]
    if unknown:
        raise InvalidArgument(f"Invalid attribute name specified: {unknown[0]}")
    return wanted


async def get_attributes(r: S3Request) -> Response:
    """GetObjectAttributes: what was asked for, in S3's order. Parts are listed (with their
    checksums) only for objects whose upload chose a checksum, as S3 does; the totals are
    always there for multipart objects."""
    await r.require("read")
    wanted = _wanted(r)
    h = r.request.headers
    max_parts = xml.check_int(h.get("x-amz-max-parts"), "x-amz-max-parts", MAX_PARTS_PAGE)
    marker = xml.check_int(
        h.get("x-amz-part-number-marker"), "x-amz-part-number-marker", 0, high=10_000
    )
    record, parts, truncated = await r.service.object_parts(
        r.bucket, r.key, version_id=version_query(r), after=marker, limit=max_parts
    )
    out: list[str] = []
    if "ETag" in wanted:
        out.append(xml.el("ETag", record.etag))
    if "Checksum" in wanted and record.checksums:
        out.append(xml.raw("Checksum", *xml.checksum_elements(record.checksums)))
    if "ObjectParts" in wanted and record.parts:
        listed = [
            xml.raw(
                "Part",
                *xml.checksum_elements(p.checksums)[:-1],
                xml.el("PartNumber", p.number),
                xml.el("Size", p.size),
            )
            for p in parts
            if p.checksums
        ]
        out.append(
            xml.raw(
                "ObjectParts",
                xml.el("PartsCount", len(record.parts)),
                xml.el("PartNumberMarker", marker),
                xml.el("NextPartNumberMarker", parts[-1].number if parts else marker),
                xml.el("MaxParts", max_parts),
                xml.el("IsTruncated", truncated),
                *listed,
            )
        )
    if "StorageClass" in wanted:
        out.append(xml.el("StorageClass", "STANDARD"))
    if "ObjectSize" in wanted:
        out.append(xml.el("ObjectSize", record.size))
    headers = version_headers(record, asked="versionId" in r.query)
    headers["last-modified"] = format_http_date(record.modified)
    return xml.xml_response(xml.document("GetObjectAttributesResponse", *out), headers=headers)
