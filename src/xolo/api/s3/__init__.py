"""The S3-compatible API: a translation onto ObjectService, with no storage code of its own."""

from xolo.api.s3.app import build_s3_app

__all__ = ["build_s3_app"]
