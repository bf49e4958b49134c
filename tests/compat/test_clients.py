"""Real S3 clients, unchanged, against a real xolo serve: awscli, rclone, s3fs, minio."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from tests.compat.conftest import MiB
from tests.server import ROOT_KEY, ROOT_SECRET, XoloServer


def make_tree(root: Path, count: int) -> dict[str, str]:
    """Files whose names have spaces, unicode and '+', a few nested; name → sha256."""
    names = ["plain", "with space", "ünïcødé", "a+b", "mixed é + x"]
    out = {}
    for i in range(count):
        rel = (
            Path(f"dir{i % 7}")
            / (f"sub {i % 3}" if i % 2 else "")
            / f"{names[i % len(names)]} {i}.txt"
        )
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = (f"file {i} " * (1 + i % 50)).encode()
        path.write_bytes(data)
        out[rel.as_posix()] = hashlib.sha256(data).hexdigest()
    return out


def digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


# -- awscli ---------------------------------------------------------------------------------------


@pytest.fixture
def aws(server: XoloServer, tmp_path: Path) -> Any:
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID=ROOT_KEY,
        AWS_SECRET_ACCESS_KEY=ROOT_SECRET,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            [sys.executable, "-m", "awscli", "--endpoint-url", server.s3_url, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert r.returncode == 0, f"aws {' '.join(args)}:\n{r.stdout}\n{r.stderr}"
        return r

    return run


def test_awscli_s3(aws: Any, tmp_path: Path) -> None:
    src = tmp_path / "src"
    tree = make_tree(src, 40)
    big = src / "big.bin"
    big.write_bytes(os.urandom(20 * MiB))  # above awscli's 8 MiB multipart threshold
    tree["big.bin"] = hashlib.sha256(big.read_bytes()).hexdigest()
    aws("s3", "mb", "s3://cli-bucket")
    aws("s3", "cp", str(big), "s3://cli-bucket/single/big.bin")
    aws("s3", "cp", "s3://cli-bucket/single/big.bin", str(tmp_path / "big-back.bin"))
    assert hashlib.sha256((tmp_path / "big-back.bin").read_bytes()).hexdigest() == tree["big.bin"]
    aws("s3", "cp", "--recursive", str(src), "s3://cli-bucket/tree/")
    aws("s3", "cp", "--recursive", "s3://cli-bucket/tree/", str(tmp_path / "back"))
    assert digests(tmp_path / "back") == tree
    listing = aws("s3", "ls", "s3://cli-bucket/tree/").stdout
    assert "PRE dir0/" in listing and "big.bin" in listing
    assert len(aws("s3", "ls", "--recursive", "s3://cli-bucket/tree/").stdout.splitlines()) == len(
        tree
    )
    first = aws("s3", "sync", str(src), "s3://cli-bucket/sync/").stdout
    assert first.count("upload:") == len(tree)
    second = aws("s3", "sync", str(src), "s3://cli-bucket/sync/").stdout
    assert second.strip() == "", f"the second sync copied again:\n{second}"
    aws("s3", "rm", "--recursive", "s3://cli-bucket/")
    assert aws("s3", "ls", "--recursive", "s3://cli-bucket/").stdout.strip() == ""
    aws("s3", "rb", "s3://cli-bucket")
    assert "cli-bucket" not in aws("s3", "ls").stdout


def test_awscli_s3api_multipart(aws: Any, tmp_path: Path) -> None:
    aws("s3api", "create-bucket", "--bucket", "cli-mp")
    up = json.loads(
        aws("s3api", "create-multipart-upload", "--bucket", "cli-mp", "--key", "joined").stdout
    )
    parts = []
    blobs = [os.urandom(5 * MiB), os.urandom(1000)]
    for number, blob in enumerate(blobs, start=1):
        path = tmp_path / f"part{number}"
        path.write_bytes(blob)
        out = json.loads(
            aws(
                "s3api",
                "upload-part",
                "--bucket",
                "cli-mp",
                "--key",
                "joined",
                "--upload-id",
                up["UploadId"],
                "--part-number",
                str(number),
                "--body",
                str(path),
            ).stdout
        )
        parts.append({"PartNumber": number, "ETag": out["ETag"]})
    listed = json.loads(
        aws(
            "s3api",
            "list-parts",
            "--bucket",
            "cli-mp",
            "--key",
            "joined",
            "--upload-id",
            up["UploadId"],
        ).stdout
    )
    assert [p["Size"] for p in listed["Parts"]] == [5 * MiB, 1000]
    aws(
        "s3api",
        "complete-multipart-upload",
        "--bucket",
        "cli-mp",
        "--key",
        "joined",
        "--upload-id",
        up["UploadId"],
        "--multipart-upload",
        json.dumps({"Parts": parts}),
    )
    aws("s3api", "get-object", "--bucket", "cli-mp", "--key", "joined", str(tmp_path / "joined"))
    assert (tmp_path / "joined").read_bytes() == b"".join(blobs)


# -- rclone ---------------------------------------------------------------------------------------


@pytest.fixture
def rclone(server: XoloServer) -> Any:
    env = dict(
        os.environ,
        RCLONE_CONFIG="/dev/null",
        RCLONE_CONFIG_XOLO_TYPE="s3",
        RCLONE_CONFIG_XOLO_PROVIDER="Other",
        RCLONE_CONFIG_XOLO_ACCESS_KEY_ID=ROOT_KEY,
        RCLONE_CONFIG_XOLO_SECRET_ACCESS_KEY=ROOT_SECRET,
        RCLONE_CONFIG_XOLO_ENDPOINT=server.s3_url,
        RCLONE_CONFIG_XOLO_REGION="us-east-1",
        RCLONE_CONFIG_XOLO_FORCE_PATH_STYLE="true",
    )

    beside = Path(sysconfig.get_path("scripts")) / "rclone"  # pip's bin dir; shims may lag
    exe = str(beside) if beside.exists() else shutil.which("rclone")
    assert exe, "rclone is not installed: python -m pip install -e '.[test]'"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([exe, *args], capture_output=True, text=True, env=env, timeout=600)
        assert r.returncode == 0, f"rclone {' '.join(args)}:\n{r.stdout}\n{r.stderr}"
        return r

    return run


def test_rclone_copy_sync_check_lsjson(rclone: Any, tmp_path: Path) -> None:
    src = tmp_path / "src"
    tree = make_tree(src, 500)
    rclone("mkdir", "xolo:rclone-bucket")
    rclone("copy", str(src), "xolo:rclone-bucket/tree", "--transfers", "8")
    check = rclone("check", str(src), "xolo:rclone-bucket/tree")
    assert "0 differences found" in check.stderr and f"{len(tree)} matching files" in check.stderr
    assert "hashes could not be checked" not in check.stderr
    listed = json.loads(
        rclone("lsjson", "-R", "--hash", "--files-only", "xolo:rclone-bucket/tree").stdout
    )
    assert sorted(e["Path"] for e in listed) == sorted(tree)
    assert all(e["Hashes"]["md5"] for e in listed)
    (src / "dir0" / "plain 0.txt").write_bytes(b"changed")
    next(src.rglob("with space *.txt")).unlink()
    rclone("sync", str(src), "xolo:rclone-bucket/tree")
    check = rclone("check", str(src), "xolo:rclone-bucket/tree")
    assert "0 differences found" in check.stderr
    back = tmp_path / "back"
    rclone("copy", "xolo:rclone-bucket/tree", str(back))
    assert digests(back) == digests(src)


# -- s3fs / fsspec --------------------------------------------------------------------------------


def test_s3fs(server: XoloServer) -> None:
    import s3fs

    fs = s3fs.S3FileSystem(
        key=ROOT_KEY,
        secret=ROOT_SECRET,
        client_kwargs={"endpoint_url": server.s3_url, "region_name": "us-east-1"},
    )
    fs.mkdir("fsspec-bucket")
    with fs.open("fsspec-bucket/dir/a.txt", "wb") as f:
        f.write(b"alpha")
    big = os.urandom(12 * MiB)
    with fs.open("fsspec-bucket/dir/sub/big.bin", "wb", block_size=5 * MiB) as f:
        f.write(big)
    fs.pipe("fsspec-bucket/other.csv", b"1,2,3")
    with fs.open("fsspec-bucket/dir/a.txt", "rb") as f:
        assert f.read() == b"alpha"
    with fs.open("fsspec-bucket/dir/sub/big.bin", "rb") as f:
        f.seek(5 * MiB)
        assert f.read(100) == big[5 * MiB : 5 * MiB + 100]
    assert fs.cat("fsspec-bucket/dir/sub/big.bin") == big
    assert sorted(fs.ls("fsspec-bucket/dir", detail=False)) == [
        "fsspec-bucket/dir/a.txt",
        "fsspec-bucket/dir/sub",
    ]
    assert fs.glob("fsspec-bucket/**/*.bin") == ["fsspec-bucket/dir/sub/big.bin"]
    assert fs.info("fsspec-bucket/dir/sub/big.bin")["size"] == 12 * MiB
    fs.rm("fsspec-bucket/dir", recursive=True)
    fs.invalidate_cache()
    assert fs.ls("fsspec-bucket", detail=False) == ["fsspec-bucket/other.csv"]


# -- minio ---------------------------------------------------------------------------------------


def test_minio_sdk(server: XoloServer, tmp_path: Path) -> None:
    import io

    from minio import Minio

    mc = Minio(
        f"127.0.0.1:{server.s3_port}",
        access_key=ROOT_KEY,
        secret_key=ROOT_SECRET,
        secure=False,
        region="us-east-1",
    )
    mc.make_bucket("minio-bucket")
    mc.put_object(
        "minio-bucket",
        "hello.txt",
        io.BytesIO(b"hello minio"),
        length=11,
        content_type="text/plain",
    )
    resp = mc.get_object("minio-bucket", "hello.txt")
    try:
        assert resp.read() == b"hello minio"
    finally:
        resp.close()
        resp.release_conn()
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(12 * MiB))
    result = mc.fput_object("minio-bucket", "dir/big.bin", str(path), part_size=5 * MiB)
    assert result.etag and result.etag.endswith("-3")
    mc.fget_object("minio-bucket", "dir/big.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == path.read_bytes()
    assert sorted(o.object_name for o in mc.list_objects("minio-bucket", recursive=True)) == [
        "dir/big.bin",
        "hello.txt",
    ]
    assert sorted(o.object_name for o in mc.list_objects("minio-bucket")) == ["dir/", "hello.txt"]
