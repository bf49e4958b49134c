"""Human sizes on the command line: ``64KiB``, ``8MiB``, ``1GiB`` or a plain byte count."""

from __future__ import annotations

import re

import click

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
}
_SIZE = re.compile(r"^\s*(\d+)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str) -> int:
    """Bytes from a count with an optional decimal (``k``, ``MB``) or binary (``KiB``) unit;
    ValueError for anything else."""
    m = _SIZE.match(text)
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"{text!r} is not a size like 65536, 64KiB or 8MiB")
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


class SizeParam(click.ParamType):  # type: ignore[type-arg]
    """The click type of size options, so a bad size is a usage error that names its option."""

    name = "size"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        """Text through ``parse_size``; an int (a value already converted) passes through."""
        if isinstance(value, int):
            return value
        try:
            return parse_size(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
