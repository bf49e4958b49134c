"""Every object and bucket verb of the ``xolo`` command line against a real cluster (3 peers, 2
routers): what each prints, with and without ``--json``, and the exit code of each failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cluster import LocalCluster
from tests.server import ROOT_KEY, ROOT_SECRET


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path_factory.mktemp("cli") / "cluster", peers=3, routers=2).up()
    yield c
    c.down()


@pytest.fixture
def run(cluster: LocalCluster, tmp_path: Path):  # type: ignore[no-untyped-def]
    hosts = ",".join(u.removeprefix("http://") for u in cluster.router_urls())
    env = dict(
        os.environ,
        XOLO_URL=f"xolo://{hosts}",
        XOLO_ACCESS_KEY=ROOT_KEY,
        XOLO_SECRET_KEY=ROOT_SECRET,
        XOLO_CONFIG_DIR=str(tmp_path / "config"),
    )
    env.pop("XOLO_PROFILE", None)

    def xolo(
        *args: str, code: int = 0, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            [sys.executable, "-m", "xolo", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            input=stdin,
            timeout=120,
        )
        assert r.returncode == code, (
            f"xolo {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}"
        )
        return r

    xolo.env = env  # type: ignore[attr-defined]
    return xolo


def test_bucket_verbs(run) -> None:  # type: ignore[no-untyped-def]
    assert run("bucket", "create", "cli-b", "--set", "replication=2").stdout.strip() == "cli-b"
    info = json.loads(run("bucket", "info", "cli-b", "--json").stdout)
    assert info["settings"]["replication"] == 2
    run("bucket", "set", "cli-b", "public_read=true")
    assert json.loads(run("bucket", "info", "cli-b", "--json").stdout)["settings"]["public_read"]
    assert "cli-b" in run("bucket", "ls").stdout
    assert "cli-b" in run("ls").stdout
    run("bucket", "rm", "cli-b")
    assert run("bucket", "info", "cli-b", code=3).stderr.startswith("xolo: NoSuchBucket")


def test_object_verbs(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("bucket", "create", "cli-o")
    src = tmp_path / "hello.txt"
    src.write_text("hello, cli\n")
    run("put", str(src), "xolo://cli-o/docs/")
    run("cp", str(src), "xolo://cli-o/docs/second.txt")
    assert run("cat", "xolo://cli-o/docs/hello.txt").stdout == "hello, cli\n"
    run("get", "xolo://cli-o/docs/hello.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text() == "hello, cli\n"
    run("cp", "xolo://cli-o/docs/second.txt", str(tmp_path / "second.txt"))
    assert (tmp_path / "second.txt").read_text() == "hello, cli\n"
    listed = json.loads(run("ls", "xolo://cli-o/docs", "--json").stdout)
    assert [x["key"] for x in listed] == ["docs/hello.txt", "docs/second.txt"]
    assert "docs/" in run("ls", "xolo://cli-o").stdout
    assert run("tree", "xolo://cli-o").stdout.count("docs/") == 2
    assert json.loads(run("du", "xolo://cli-o", "--json").stdout) == {"objects": 2, "bytes": 22}
    stat = json.loads(run("stat", "xolo://cli-o/docs/hello.txt", "--json").stdout)
    assert stat["size"] == 11 and len(stat["sha256"]) == 64
    run("cp", "xolo://cli-o/docs/hello.txt", "xolo://cli-o/copy.txt")
    run("mv", "xolo://cli-o/copy.txt", "xolo://cli-o/moved.txt")
    assert run("cat", "xolo://cli-o/moved.txt").stdout == "hello, cli\n"
    url = run("presign", "xolo://cli-o/moved.txt", "--expires", "60").stdout.strip()
    assert httpx.get(url).text == "hello, cli\n"
    run("rm", "xolo://cli-o/docs/", code=3)  # not a key: a directory needs -r
    assert run("rm", "-r", "xolo://cli-o/", code=1).stderr.count("everything") == 1
    assert run("rm", "-r", "xolo://cli-o/docs/").stdout.strip() == "deleted 2"
    run("rm", "xolo://cli-o/moved.txt")
    assert run("cat", "xolo://cli-o/moved.txt", code=3).stderr.startswith("xolo: NoSuchKey")


def test_failures_have_their_exit_codes(run, cluster: LocalCluster) -> None:  # type: ignore[no-untyped-def]
    env = dict(run.env, XOLO_SECRET_KEY="wrong")
    r = subprocess.run(
        [sys.executable, "-m", "xolo", "ls"], capture_output=True, text=True, env=env, timeout=60
    )
    assert r.returncode == 4, r.stderr
    env = dict(run.env, XOLO_URL="xolo://127.0.0.1:1", XOLO_ACCESS_KEY="a", XOLO_SECRET_KEY="b")
    r = subprocess.run(
        [sys.executable, "-m", "xolo", "ls"], capture_output=True, text=True, env=env, timeout=120
    )
    assert r.returncode == 6, r.stderr
    assert run("bucket", "rm", "no-such-bucket-cli", code=3)


def test_login_saves_a_private_profile(run, cluster: LocalCluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = cluster.router_urls()[0]
    run(
        "login",
        "--url",
        url,
        "--access-key",
        ROOT_KEY,
        "--secret-key",
        ROOT_SECRET,
        "--profile",
        "work",
    )
    path = tmp_path / "config" / "profiles.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text())["work"]["url"] == url
    env = {k: v for k, v in run.env.items() if not k.startswith("XOLO_") or k == "XOLO_CONFIG_DIR"}
    r = subprocess.run(
        [sys.executable, "-m", "xolo", "bucket", "ls", "--profile", "work"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    bad = run("login", "--url", url, "--access-key", ROOT_KEY, "--secret-key", "nope", code=4)
    assert "saved" not in bad.stdout


def test_sync_both_ways_with_dry_run_and_delete(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("bucket", "create", "cli-sync")
    src = tmp_path / "tree"
    for name in ("a.txt", "sub/b.txt", "sub/c.txt"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(name)
    plan = json.loads(run("sync", str(src), "xolo://cli-sync/t", "--dry-run", "--json").stdout)
    assert plan["send"] == ["a.txt", "sub/b.txt", "sub/c.txt"] and plan["dry_run"]
    assert json.loads(run("ls", "xolo://cli-sync/t", "--json").stdout) == []  # unchanged
    run("sync", str(src), "xolo://cli-sync/t")
    again = json.loads(run("sync", str(src), "xolo://cli-sync/t", "--json").stdout)
    assert (again["send"], again["unchanged"]) == ([], 3)
    (src / "sub" / "b.txt").write_text("changed!")  # same name, new bytes
    (src / "a.txt").unlink()
    changed = json.loads(run("sync", str(src), "xolo://cli-sync/t", "--delete", "--json").stdout)
    assert (changed["send"], changed["delete"]) == (["sub/b.txt"], ["a.txt"])
    assert run("cat", "xolo://cli-sync/t/sub/b.txt").stdout == "changed!"
    assert run("cat", "xolo://cli-sync/t/a.txt", code=3)
    back = tmp_path / "back"
    run("sync", "xolo://cli-sync/t", str(back))
    assert sorted(p.relative_to(back).as_posix() for p in back.rglob("*") if p.is_file()) == [
        "sub/b.txt",
        "sub/c.txt",
    ]
    (back / "stray.txt").write_text("x")
    down = json.loads(run("sync", "xolo://cli-sync/t", str(back), "--delete", "--json").stdout)
    assert (down["send"], down["delete"]) == ([], ["stray.txt"]) and not (
        back / "stray.txt"
    ).exists()


def test_watch_prints_the_changes_after_a_sequence(run) -> None:  # type: ignore[no-untyped-def]
    run("bucket", "create", "cli-watch")
    src = Path(run.env["XOLO_CONFIG_DIR"]).parent / "w.txt"
    src.write_text("w")
    run("put", str(src), "xolo://cli-watch/one.txt")
    run("rm", "xolo://cli-watch/one.txt")
    out = run("watch", "xolo://cli-watch", "--after", "0", "--count", "3", "--json").stdout
    events = [json.loads(line) for line in out.splitlines()]
    assert [(e["type"], e["key"]) for e in events] == [
        ("bucket.created", None),
        ("object.created", "one.txt"),
        ("object.deleted", "one.txt"),
    ]
