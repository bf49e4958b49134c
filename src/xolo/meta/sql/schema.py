"""Schema migrations for the SQL metadata stores, applied in order and tracked by number.

A migration is DDL (with ``{text}``, ``{blob}``, ``{real}``, ``{bigint}`` filled in by the
dialect) or an async step over a transaction, for data that SQL alone cannot move.

Object keys are stored as the bytes of their UTF-8 form so that ``ORDER BY key`` is byte order,
the order S3 lists in. The inline body is the last column of ``objects`` so that listings never
read its overflow pages.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Awaitable, Callable

from xolo.meta.sql.dialect import Dialect
from xolo.meta.sql.tx import Tx

V1 = """
CREATE TABLE buckets (
    name          {text} PRIMARY KEY,
    created       {real} NOT NULL,
    settings      {text} NOT NULL,
    object_count  {bigint} NOT NULL DEFAULT 0,
    bytes_used    {bigint} NOT NULL DEFAULT 0
);
CREATE TABLE objects (
    bucket        {text} NOT NULL REFERENCES buckets(name),
    key           {blob} NOT NULL,
    size          {bigint} NOT NULL,
    etag          {text} NOT NULL,
    modified      {real} NOT NULL,
    content_type  {text} NOT NULL,
    sha256        {text},
    version       {text} NOT NULL,
    metadata      {text} NOT NULL,
    tags          {text} NOT NULL,
    chunks        {text} NOT NULL,
    checksums     {text} NOT NULL DEFAULT '{{}}',
    headers       {text} NOT NULL DEFAULT '{{}}',
    inline        {blob},
    PRIMARY KEY (bucket, key)
);
CREATE TABLE uploads (
    upload_id     {text} PRIMARY KEY,
    bucket        {text} NOT NULL REFERENCES buckets(name) ON DELETE CASCADE,
    key           {text} NOT NULL,
    size          {bigint} NOT NULL,
    sha256        {text} NOT NULL,
    content_type  {text} NOT NULL,
    tags          {text} NOT NULL,
    created       {real} NOT NULL,
    expires       {real} NOT NULL
);
CREATE INDEX uploads_expires ON uploads (expires);
CREATE TABLE multipart_uploads (
    upload_id     {text} PRIMARY KEY,
    bucket        {text} NOT NULL REFERENCES buckets(name) ON DELETE CASCADE,
    key           {blob} NOT NULL,
    created       {real} NOT NULL,
    content_type  {text} NOT NULL,
    metadata      {text} NOT NULL,
    tags          {text} NOT NULL,
    checksum_algorithm {text},
    headers       {text} NOT NULL DEFAULT '{{}}'
);
CREATE INDEX multipart_uploads_key ON multipart_uploads (bucket, key, upload_id);
CREATE TABLE parts (
    upload_id     {text} NOT NULL REFERENCES multipart_uploads(upload_id) ON DELETE CASCADE,
    number        {bigint} NOT NULL,
    size          {bigint} NOT NULL,
    etag          {text} NOT NULL,
    modified      {real} NOT NULL,
    chunks        {text} NOT NULL,
    checksums     {text} NOT NULL,
    PRIMARY KEY (upload_id, number)
);
CREATE TABLE access_keys (
    access_key    {text} PRIMARY KEY,
    sealed_secret {blob} NOT NULL,
    created       {real} NOT NULL,
    is_root       {bigint} NOT NULL DEFAULT 0,
    grants        {text} NOT NULL DEFAULT '{{}}'
)
"""

V2 = """
ALTER TABLE buckets ADD COLUMN owner {text};
CREATE TABLE bucket_stats (
    bucket        {text} NOT NULL REFERENCES buckets(name) ON DELETE CASCADE,
    shard         {bigint} NOT NULL,
    objects       {bigint} NOT NULL DEFAULT 0,
    bytes         {bigint} NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, shard)
);
CREATE TABLE chunk_refs (
    sha256        {text} PRIMARY KEY,
    size          {bigint} NOT NULL,
    refs          {bigint} NOT NULL DEFAULT 0,
    replicas      {bigint} NOT NULL DEFAULT 1,
    zero_since    {real},
    gc_round      {text}
);
CREATE INDEX chunk_refs_unreferenced ON chunk_refs (zero_since) WHERE refs = 0;
CREATE INDEX multipart_uploads_created ON multipart_uploads (created);
CREATE TABLE peers (
    id            {text} PRIMARY KEY,
    url           {text} NOT NULL,
    zone          {text} NOT NULL,
    capacity      {bigint} NOT NULL,
    used_bytes    {bigint} NOT NULL DEFAULT 0,
    chunks        {bigint} NOT NULL DEFAULT 0,
    last_heartbeat {real} NOT NULL,
    joined        {real} NOT NULL,
    admin_state   {text} NOT NULL DEFAULT 'active'
);
CREATE TABLE routers (
    id            {text} PRIMARY KEY,
    url           {text} NOT NULL,
    s3_url        {text},
    last_seen     {real} NOT NULL
);
CREATE TABLE tasks (
    name          {text} PRIMARY KEY,
    holder        {text},
    lease_until   {real} NOT NULL DEFAULT 0,
    status        {text} NOT NULL DEFAULT '{{}}'
)
"""

V2_DROP_COUNTERS = """
ALTER TABLE buckets DROP COLUMN object_count;
ALTER TABLE buckets DROP COLUMN bytes_used
"""


async def _move_counters_and_refs(tx: Tx) -> None:
    """Wave-1 data directories: per-bucket totals move to the sharded table (shard 0), and every
    chunk a manifest or part names gets its reference count."""
    for bucket, count, used in await tx.all(
        "SELECT bucket, COUNT(*), SUM(size) FROM objects GROUP BY bucket"
    ):
        await tx.run(
            "INSERT INTO bucket_stats (bucket, shard, objects, bytes) VALUES (?, 0, ?, ?)",
            bucket,
            int(count),
            int(used or 0),
        )
    refs: Counter[str] = Counter()
    sizes: dict[str, int] = {}
    for table in ("objects", "parts"):
        for (doc,) in await tx.all(f"SELECT chunks FROM {table} WHERE chunks != '[]'"):
            names = {}
            for sha, size in json.loads(doc):
                names[sha] = size
            refs.update(names.keys())
            sizes.update(names)
    for sha in sorted(refs):
        await tx.run(
            "INSERT INTO chunk_refs (sha256, size, refs, replicas) VALUES (?, ?, ?, 0)",
            sha,
            sizes[sha],
            refs[sha],
        )


V3 = """
ALTER TABLE access_keys ADD COLUMN disabled {bigint} NOT NULL DEFAULT 0
"""

V4 = """
CREATE TABLE audit (
    bucket        {text} NOT NULL,
    seq           {bigint} NOT NULL,
    time          {real} NOT NULL,
    actor         {text},
    op            {text} NOT NULL,
    key           {text},
    size          {bigint},
    sha256        {text},
    etag          {text},
    version       {text},
    prev          {text} NOT NULL,
    mac           {text} NOT NULL,
    PRIMARY KEY (bucket, seq)
);
CREATE TABLE audit_heads (
    bucket        {text} PRIMARY KEY,
    seq           {bigint} NOT NULL,
    mac           {text} NOT NULL
)
"""

V5 = """
CREATE TABLE notify_targets (
    id            {text} PRIMARY KEY,
    kind          {text} NOT NULL,
    target        {text} NOT NULL,
    subject       {text},
    bucket        {text} NOT NULL,
    prefix        {text} NOT NULL DEFAULT '',
    types         {text} NOT NULL DEFAULT '[]',
    sealed_secret {blob},
    cursor        {bigint} NOT NULL DEFAULT 0,
    failures      {bigint} NOT NULL DEFAULT 0,
    state         {text} NOT NULL DEFAULT 'active',
    last_error    {text},
    next_try      {real} NOT NULL DEFAULT 0,
    created       {real} NOT NULL
)
"""

V6 = """
ALTER TABLE buckets ADD COLUMN versioning {text};
ALTER TABLE objects ADD COLUMN version_id {text} NOT NULL DEFAULT 'null';
ALTER TABLE objects ADD COLUMN vseq {bigint} NOT NULL DEFAULT 1;
CREATE TABLE object_versions (
    bucket        {text} NOT NULL REFERENCES buckets(name),
    key           {blob} NOT NULL,
    vseq          {bigint} NOT NULL,
    version_id    {text} NOT NULL,
    delete_marker {bigint} NOT NULL DEFAULT 0,
    size          {bigint} NOT NULL,
    etag          {text} NOT NULL,
    modified      {real} NOT NULL,
    content_type  {text} NOT NULL,
    sha256        {text},
    version       {text} NOT NULL,
    metadata      {text} NOT NULL,
    tags          {text} NOT NULL,
    chunks        {text} NOT NULL,
    checksums     {text} NOT NULL DEFAULT '{{}}',
    headers       {text} NOT NULL DEFAULT '{{}}',
    inline        {blob},
    PRIMARY KEY (bucket, key, vseq)
);
CREATE UNIQUE INDEX object_versions_id ON object_versions (bucket, key, version_id)
"""
"""Versioning (``core/versions.py``): the bucket's status, each current object's version id and
place among its key's versions, and the history of older versions and delete markers."""

V7 = """
ALTER TABLE buckets ADD COLUMN config {text} NOT NULL DEFAULT '{{}}';
ALTER TABLE objects ADD COLUMN parts {text} NOT NULL DEFAULT '{{}}';
ALTER TABLE objects ADD COLUMN acl {text};
ALTER TABLE object_versions ADD COLUMN parts {text} NOT NULL DEFAULT '{{}}';
ALTER TABLE object_versions ADD COLUMN acl {text};
ALTER TABLE multipart_uploads ADD COLUMN checksum_type {text};
ALTER TABLE multipart_uploads ADD COLUMN acl {text}
"""
"""Bucket configuration (lifecycle, CORS, canned ACL), each object's multipart layout (parts,
the upload that made it) and its canned ACL; a multipart upload's checksum type (COMPOSITE
or FULL_OBJECT)."""

V8 = """
CREATE TABLE bucket_chunks (
    bucket        {text} NOT NULL,
    sha256        {text} NOT NULL,
    refs          {bigint} NOT NULL,
    PRIMARY KEY (bucket, sha256)
)
"""
"""Per bucket, how many of its manifests and parts name each chunk: a direct-transfer plan
tells a writer it may skip a chunk only when the bucket already holds it, so the plan is no
oracle for what other buckets store."""


V9 = """
CREATE INDEX bucket_chunks_sha256 ON bucket_chunks (sha256)
"""
"""Which buckets name a chunk: a change of one bucket's replication recounts the wanted copies
of its chunks against the other buckets that share them."""


V10 = """
ALTER TABLE peers ADD COLUMN sent {real} NOT NULL DEFAULT 0
"""
"""The sender's time of each peer's last recorded heartbeat: a replayed heartbeat is refused."""


async def _count_bucket_chunks(tx: Tx) -> None:
    """Every manifest and part in a bucket counts once for each chunk it names."""
    refs: Counter[tuple[str, str]] = Counter()
    sources = (
        "SELECT bucket, chunks FROM objects WHERE chunks != '[]'",
        "SELECT bucket, chunks FROM object_versions WHERE chunks != '[]'",
        "SELECT m.bucket, p.chunks FROM parts p JOIN multipart_uploads m "
        "ON p.upload_id = m.upload_id WHERE p.chunks != '[]'",
    )
    for query in sources:
        for bucket, doc in await tx.all(query):
            refs.update((bucket, sha) for sha in {sha for sha, _ in json.loads(doc)})
    for bucket, sha in sorted(refs):
        await tx.run(
            "INSERT INTO bucket_chunks (bucket, sha256, refs) VALUES (?, ?, ?)",
            bucket,
            sha,
            refs[(bucket, sha)],
        )


Step = str | Callable[[Tx], Awaitable[None]]

MIGRATIONS: list[list[Step]] = [
    [V1],
    [V2, _move_counters_and_refs, V2_DROP_COUNTERS],
    [V3],
    [V4],
    [V5],
    [V6],
    [V7],
    [V8, _count_bucket_chunks],
    [V9],
    [V10],
]
"""Each entry is one schema version: its steps run in one transaction, in order."""


async def migrate(tx: Tx, dialect: Dialect, current: int) -> int:
    """Apply every migration after ``current``; the new version. The caller holds the lock
    that keeps two processes from migrating at once, and records the version."""
    for steps in MIGRATIONS[current:]:
        for step in steps:
            if isinstance(step, str):
                for statement in dialect.ddl(step).split(";"):
                    if statement.strip():
                        await tx.run(statement)
            else:
                await step(tx)
    return len(MIGRATIONS)
