"""How a client finds and authenticates to xolo: one or more routers, credentials, timeouts.

Three ways in, one result (``ClientConfig``):

* a URI, ``xolo://[ACCESS:SECRET@]host:port[,host:port...]/?protocol=http|https&timeout=S&
  verify=true|false|PATH&retries=N``;
* keyword arguments;
* the environment (``XOLO_URL``, ``XOLO_ACCESS_KEY``, ``XOLO_SECRET_KEY``) or a named profile
  in ``~/.config/xolo/profiles.json`` (``XOLO_PROFILE`` picks one; ``xolo login`` writes it).

A malformed URI is refused with a message that says which part is wrong.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from xolo.core.errors import InvalidArgument

DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 4
PROFILE_ENV = "XOLO_PROFILE"


def profiles_path() -> Path:
    """Where ``xolo login`` keeps profiles (``XOLO_CONFIG_DIR`` overrides the directory)."""
    base = os.environ.get("XOLO_CONFIG_DIR") or os.path.join(
        os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "xolo"
    )
    return Path(base) / "profiles.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientConfig:
    """Everything a client needs before its first request."""

    routers: tuple[str, ...]
    """Base URLs (``http://host:port``), tried in turn with health-aware balancing."""
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    verify: bool | str = True
    retries: int = DEFAULT_RETRIES

    def __post_init__(self) -> None:
        if not self.routers:
            raise InvalidArgument("a client needs at least one router URL")
        if (self.access_key is None) != (self.secret_key is None):
            raise InvalidArgument("give both an access key and a secret key, or neither")
        if self.timeout <= 0:
            raise InvalidArgument("timeout must be a positive number of seconds")
        if not 0 <= self.retries <= 20:
            raise InvalidArgument("retries must be from 0 to 20")

    @property
    def credentials(self) -> tuple[str, str] | None:
        """The ``(access_key, secret_key)`` pair, or ``None`` for an anonymous client."""
        if self.access_key is None or self.secret_key is None:
            return None
        return self.access_key, self.secret_key


def _bool_or_path(value: str) -> bool | str:
    lowered = value.lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    return value


def parse_uri(uri: str) -> ClientConfig:
    """A ``xolo://`` URI (or a plain ``http(s)://host:port`` of one router) as a config."""
    parsed = urllib.parse.urlsplit(uri)
    if parsed.scheme in ("http", "https"):
        if not parsed.netloc:
            raise InvalidArgument(f"{uri!r} names no host")
        return ClientConfig(routers=(f"{parsed.scheme}://{parsed.netloc}",))
    if parsed.scheme != "xolo":
        raise InvalidArgument(
            f"a xolo URI starts with xolo:// (or http:// for one router), not {parsed.scheme!r}"
        )
    userinfo, _, hosts = parsed.netloc.rpartition("@")
    access = secret = None
    if userinfo:
        access, sep, secret = userinfo.partition(":")
        if not sep or not access or not secret:
            raise InvalidArgument("credentials in a xolo URI are written ACCESS:SECRET@")
        access, secret = urllib.parse.unquote(access), urllib.parse.unquote(secret)
    query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
    unknown = set(query) - {"protocol", "timeout", "verify", "retries"}
    if unknown:
        raise InvalidArgument(f"unknown xolo URI parameters: {sorted(unknown)}")
    protocol = query.get("protocol", "http")
    if protocol not in ("http", "https"):
        raise InvalidArgument("protocol must be http or https")
    routers = []
    for host in hosts.split(","):
        name, sep, port = host.strip().rpartition(":")
        if not sep or not name or not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidArgument(f"each router in a xolo URI is host:port, not {host!r}")
        routers.append(f"{protocol}://{name}:{port}")
    try:
        timeout = float(query.get("timeout", DEFAULT_TIMEOUT))
        retries = int(query.get("retries", DEFAULT_RETRIES))
    except ValueError:
        raise InvalidArgument("timeout and retries in a xolo URI must be numbers") from None
    return ClientConfig(
        routers=tuple(routers),
        access_key=access,
        secret_key=secret,
        timeout=timeout,
        verify=_bool_or_path(query.get("verify", "true")),
        retries=retries,
    )


def load_profile(name: str, path: Path | None = None) -> ClientConfig:
    """A named profile written by ``xolo login``."""
    path = path or profiles_path()
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise InvalidArgument(f"no profiles file at {path}; run xolo login") from None
    entry = doc.get(name) if isinstance(doc, dict) else None
    if not isinstance(entry, dict) or "url" not in entry:
        raise InvalidArgument(f"no profile {name!r} in {path}")
    config = parse_uri(str(entry["url"]))
    return replace(
        config,
        access_key=entry.get("access_key", config.access_key),
        secret_key=entry.get("secret_key", config.secret_key),
    )


def from_env(env: Mapping[str, str] | None = None) -> ClientConfig:
    """``XOLO_URL`` with ``XOLO_ACCESS_KEY``/``XOLO_SECRET_KEY`` (which override credentials in
    the URL), or the profile ``XOLO_PROFILE`` names."""
    env = os.environ if env is None else env
    if env.get(PROFILE_ENV):
        config = load_profile(env[PROFILE_ENV])
    elif env.get("XOLO_URL"):
        config = parse_uri(env["XOLO_URL"])
    else:
        raise InvalidArgument("set XOLO_URL (or XOLO_PROFILE) to say where xolo is")
    if env.get("XOLO_ACCESS_KEY") or env.get("XOLO_SECRET_KEY"):
        config = replace(
            config, access_key=env.get("XOLO_ACCESS_KEY"), secret_key=env.get("XOLO_SECRET_KEY")
        )
    return config


def save_profile(name: str, *, url: str, access_key: str, secret_key: str) -> Path:
    """Write (or replace) one profile, in a file only its owner may read (mode 0600)."""
    path = profiles_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        doc = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        doc = {}
    doc[name] = {"url": url, "access_key": access_key, "secret_key": secret_key}
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(doc, out, indent=2)
    os.replace(tmp, path)
    return path
