"""Pins the public surface of the ``xolo`` package, so a change to it is deliberate."""

import xolo


def test_exported_names() -> None:
    assert sorted(xolo.__all__) == sorted(
        [
            "AsyncClient",
            "Bucket",
            "BucketSettings",
            "Client",
            "Event",
            "ListPage",
            "ObjectInfo",
            "ObjectReader",
            "ObjectRecord",
            "ObjectService",
            "ServiceConfig",
            "WriteCondition",
            "XoloError",
            "__version__",
            "every",
            "on",
            "open",
            "open_memory",
            "run",
        ]
    )
    for name in xolo.__all__:
        assert hasattr(xolo, name)
