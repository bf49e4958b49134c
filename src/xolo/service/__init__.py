"""Object semantics: the one place that defines what a PUT, GET, append or copy means."""

from xolo.service.auth import Authenticator, Principal
from xolo.service.config import ServiceConfig
from xolo.service.objects import ObjectReader, ObjectService

__all__ = ["Authenticator", "ObjectReader", "ObjectService", "Principal", "ServiceConfig"]
