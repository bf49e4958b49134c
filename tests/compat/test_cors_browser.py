"""CORS as a browser sees it: headless Chromium loads a page from one origin and PUTs an object
to xolo's S3 endpoint (another origin) through a presigned URL, after the preflight the bucket's
CORS rules answer; a page from an origin no rule names is refused by the browser and writes
nothing. Plus the preflight's exact answers over plain HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.compat.conftest import client
from tests.server import XoloServer, free_port
from tests.services import CHROMIUM_START, require_program

PAGE = """<!doctype html><html><body><script>
const report = (doc) => fetch("/report", {method: "POST", body: JSON.stringify(doc)});
const headers = {"Content-Type": "text/plain"};
fetch(%(url)s, {method: "PUT", body: "hello from the page", headers: headers})
  .then((r) => report({status: r.status, etag: r.headers.get("ETag")}))
  .catch((e) => report({error: String(e)}));
</script></body></html>"""


class PageServer:
    """Serves one page on its own origin and waits for the page's report."""

    def __init__(self, page: str) -> None:
        self.report: dict[str, Any] | None = None
        self.done = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = page.encode()
                self.send_response(200)
                self.send_header("content-type", "text/html")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                outer.report = json.loads(self.rfile.read(length))
                self.send_response(204)
                self.end_headers()
                outer.done.set()

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.origin = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def run_page(browser: str, page: PageServer, timeout: float = 60.0) -> dict[str, Any]:
    """Open the page in headless Chromium until it reports (a condition, not a sleep)."""
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                page.origin + "/",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: the renderers go with it
        )
        try:
            assert page.done.wait(timeout), "the page never reported"
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert page.report is not None
    return page.report


@pytest.fixture
def browser() -> str:
    return require_program("chromium", CHROMIUM_START)


@pytest.fixture
def pages() -> Iterator[list[PageServer]]:
    made: list[PageServer] = []
    yield made
    for page in made:
        page.close()


def allow(s3: Any, bucket: str, origin: str) -> None:
    s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedOrigins": [origin],
                    "AllowedMethods": ["PUT", "GET"],
                    "AllowedHeaders": ["*"],
                    "ExposeHeaders": ["ETag"],
                    "MaxAgeSeconds": 60,
                }
            ]
        },
    )


def presigned_put(server: XoloServer, bucket: str, key: str) -> str:
    signer = client(server, config=Config(signature_version="s3v4"))
    return str(
        signer.generate_presigned_url(
            "put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300
        )
    )


def test_a_page_on_an_allowed_origin_uploads_through_a_presigned_url(
    server: XoloServer, s3: Any, bucket: str, browser: str, pages: list[PageServer]
) -> None:
    url = presigned_put(server, bucket, "from-browser.txt")
    page = PageServer(PAGE % {"url": json.dumps(url)})
    pages.append(page)
    allow(s3, bucket, page.origin)
    report = run_page(browser, page)
    assert report.get("status") == 200, report
    assert report["etag"]  # exposed by the rule, so the page can read it
    got = s3.get_object(Bucket=bucket, Key="from-browser.txt")
    assert got["Body"].read() == b"hello from the page"


def test_a_page_on_another_origin_is_refused_and_writes_nothing(
    server: XoloServer, s3: Any, bucket: str, browser: str, pages: list[PageServer]
) -> None:
    url = presigned_put(server, bucket, "blocked.txt")
    page = PageServer(PAGE % {"url": json.dumps(url)})
    pages.append(page)
    allow(s3, bucket, "http://somewhere-else.example")
    report = run_page(browser, page)
    assert "error" in report, report  # fetch rejects when the preflight is refused
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="blocked.txt")


def test_preflight_answers_from_the_rules(server: XoloServer, s3: Any, bucket: str) -> None:
    path = f"{server.s3_url}/{bucket}/k"
    preflight = {"origin": "http://app.example", "access-control-request-method": "PUT"}
    r = httpx.options(path, headers=preflight)
    assert r.status_code == 403 and b"<Code>AccessForbidden</Code>" in r.content
    r = httpx.options(f"{server.s3_url}/no-such-bucket-here/k", headers=preflight)
    assert r.status_code == 403 and b"<Code>AccessForbidden</Code>" in r.content  # no oracle
    allow(s3, bucket, "http://*.example")
    r = httpx.options(path, headers={**preflight, "access-control-request-headers": "x-amz-meta-a"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "http://app.example"
    assert r.headers["access-control-allow-methods"] == "PUT, GET"
    assert r.headers["access-control-allow-headers"] == "x-amz-meta-a"
    assert r.headers["access-control-max-age"] == "60"
    r = httpx.options(path, headers={**preflight, "access-control-request-method": "DELETE"})
    assert r.status_code == 403
    r = httpx.options(path, headers={"access-control-request-method": "PUT"})
    assert r.status_code == 400
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    got = s3.get_object(Bucket=bucket, Key="k")  # boto3 sends no Origin: no CORS headers
    assert "access-control-allow-origin" not in got["ResponseMetadata"]["HTTPHeaders"]


def test_cors_configuration_round_trips(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.get_bucket_cors(Bucket=bucket)
    assert e.value.response["Error"]["Code"] == "NoSuchCORSConfiguration"
    allow(s3, bucket, "https://app.example")
    rules = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert rules[0]["AllowedOrigins"] == ["https://app.example"]
    assert rules[0]["AllowedMethods"] == ["PUT", "GET"] and rules[0]["MaxAgeSeconds"] == 60
    with pytest.raises(ClientError) as e:
        s3.put_bucket_cors(
            Bucket=bucket,
            CORSConfiguration={
                "CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]
            },
        )
    assert e.value.response["Error"]["Code"] == "InvalidArgument"
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"][0]["AllowedMethods"] == ["PUT", "GET"]
    s3.delete_bucket_cors(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_cors(Bucket=bucket)
