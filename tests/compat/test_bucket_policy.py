"""One access policy for every surface (issue: the bucket-name oracle, racing CreateBucket).

Anonymous callers learn nothing about which buckets exist; a key without a grant learns nothing
either; racing creators: exactly one creates the bucket, with its own settings, and the others
are answered as S3 answers for the configured region."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.compat.conftest import client
from tests.server import XoloServer


def make_key(server: XoloServer, *grants: str) -> tuple[str, str]:
    args = [sys.executable, "-m", "xolo", "keys", "create", "--data", str(server.data)]
    for grant in grants:
        args += ["--grant", grant]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True).stdout
    return out.split("access key: ")[1].split()[0], out.split("secret key: ")[1].split()[0]


def error_code(exc: ClientError) -> tuple[int, str]:
    return int(exc.response["ResponseMetadata"]["HTTPStatusCode"]), exc.response["Error"]["Code"]


@pytest.mark.parametrize("method", ["PUT", "GET", "HEAD", "DELETE"])
def test_anonymous_callers_get_one_answer_whether_a_bucket_exists_or_not(
    server: XoloServer, s3: Any, method: str
) -> None:
    s3.create_bucket(Bucket="secret-project")
    answers = set()
    for name in ("secret-project", "no-such-bucket-anywhere"):
        r = httpx.request(method, f"{server.s3_url}/{name}")
        answers.add((r.status_code, r.content.split(b"<Code>")[-1][:20] if r.content else b""))
    assert len(answers) == 1, answers
    assert {a[0] for a in answers} == {403}
    native = {
        httpx.request(method, f"{server.url}/v1/buckets/{n}").status_code
        for n in ("secret-project", "no-such-bucket-anywhere")
    }
    assert native == ({405} if method == "HEAD" else {401})  # the native API has no bucket HEAD


def test_a_key_without_a_grant_gets_one_answer_whether_a_bucket_exists_or_not(
    server: XoloServer, s3: Any
) -> None:
    s3.create_bucket(Bucket="someone-elses")
    access, secret = make_key(server, "mine-only=admin")
    stranger = client(server, aws_access_key_id=access, aws_secret_access_key=secret)
    seen = set()
    for name in ("someone-elses", "nobody-has-this-one"):
        for call in (
            lambda n: stranger.head_bucket(Bucket=n),
            lambda n: stranger.list_objects_v2(Bucket=n),
            lambda n: stranger.put_object(Bucket=n, Key="k", Body=b"x"),
            lambda n: stranger.create_bucket(Bucket=n),
        ):
            with pytest.raises(ClientError) as e:
                call(name)
            seen.add((name, error_code(e.value)[0]))
    assert {status for _, status in seen} == {403}
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket="nobody-has-this-one")  # and nothing was created


def test_racing_create_bucket_calls_of_different_keys_have_one_creator(
    server: XoloServer, s3: Any
) -> None:
    keys = [make_key(server, "*=admin") for _ in range(8)]
    barrier = threading.Barrier(len(keys))
    outcomes: dict[int, object] = {}

    def create(i: int) -> None:
        access, secret = keys[i]
        c = client(server, aws_access_key_id=access, aws_secret_access_key=secret)
        acl = "public-read" if i % 2 else "private"
        barrier.wait()
        try:
            c.create_bucket(Bucket="contested-name", ACL=acl)
            outcomes[i] = "created"
        except ClientError as exc:
            outcomes[i] = error_code(exc)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(len(keys))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [i for i, o in outcomes.items() if o == "created"]
    assert len(winners) == 1, outcomes
    assert all(o == (409, "BucketAlreadyExists") for i, o in outcomes.items() if i != winners[0])
    # the bucket has the winner's ACL: public-read exactly when an odd key won
    anonymous = httpx.get(f"{server.s3_url}/contested-name?list-type=2").status_code
    assert anonymous == (200 if winners[0] % 2 else 403)


def test_in_another_region_the_owner_re_creating_gets_bucket_already_owned_by_you(
    tmp_path: Path,
) -> None:
    srv = XoloServer(tmp_path / "data", extra_args=("--region", "eu-west-1")).start()
    try:
        s3 = client(srv, region_name="eu-west-1")
        s3.create_bucket(
            Bucket="regional", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        with pytest.raises(ClientError) as e:
            s3.create_bucket(
                Bucket="regional", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
            )
        assert error_code(e.value) == (409, "BucketAlreadyOwnedByYou")
    finally:
        srv.stop()
