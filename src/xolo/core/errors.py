"""The single error hierarchy of xolo.

Every error carries one HTTP status and one machine-readable code. Codes follow S3's error
codes wherever S3 has one, so the S3 surface can reuse them unchanged::

    XoloError (500 InternalError)
    ├── BadRequest (400)
    │   ├── InvalidArgument, InvalidBucketName, InvalidKeyName, InvalidMetadata,
    │   ├── InvalidChunkName, MalformedJSON, BadDigest, IncompleteBody, SizeMismatch,
    │   ├── EntityTooLarge, EntityTooSmall, InvalidPart, InvalidPartOrder, MalformedXML,
    │   ├── InvalidDigest, InvalidRequest, AuthorizationHeaderMalformed,
    │   └── AuthorizationQueryParametersError, InvalidTag, TooManyTags
    ├── Unauthenticated (401), InvalidCredentials (401), AccessDenied (403),
    │   SignatureDoesNotMatch (403), InvalidAccessKeyId (403), RequestTimeTooSkewed (403)
    ├── CORSForbidden (403 AccessForbidden)
    ├── NotFound (404): NoSuchBucket, NoSuchKey, NoSuchVersion, NoSuchUpload, NoSuchChunk,
    │   NoSuchLifecycleConfiguration, NoSuchCORSConfiguration
    ├── MethodNotAllowed (405)
    ├── Conflict (409): BucketNotEmpty, BucketAlreadyOwnedByYou, BucketAlreadyExists,
    │   ConcurrentUpdate, MissingChunks
    ├── PreconditionFailed (412), InvalidRange (416), InvalidPartNumber (416), NotModified (304)
    ├── IntegrityError (502, client side)
    ├── NotImplementedByXolo (501 NotImplemented)
    └── ServiceUnavailable (503): ChunkCollected, InsufficientReplicas, ChunkUnavailable,
        StoreUnavailable, PeerUnavailable, ChunkCorrupt, TransportError (client side)

Messages must never contain secrets: they are returned to clients and logged.
"""

from __future__ import annotations

from typing import ClassVar


class XoloError(Exception):
    """Base of every error xolo raises on purpose."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "InternalError"

    def __init__(self, message: str = "", **details: str) -> None:
        super().__init__(message or self.default_message())
        self.message = message or self.default_message()
        self.details = details

    @classmethod
    def default_message(cls) -> str:
        """The message used when none is given: the first line of the error class's docstring."""
        return cls.__doc__.split("\n")[0].rstrip(".") if cls.__doc__ else cls.code


class BadRequest(XoloError):
    """The request is malformed."""

    status = 400
    code = "BadRequest"


class InvalidArgument(BadRequest):
    """An argument is invalid."""

    code = "InvalidArgument"


class InvalidBucketName(BadRequest):
    """The bucket name is not valid."""

    code = "InvalidBucketName"


class InvalidKeyName(BadRequest):
    """The object key is not valid."""

    code = "InvalidKeyName"


class InvalidMetadata(BadRequest):
    """The object metadata or tags break a limit."""

    code = "InvalidMetadata"


class CORSForbidden(XoloError):
    """A browser's cross-origin request that no CORS rule of the bucket allows."""

    status = 403
    code = "AccessForbidden"


class InvalidTag(BadRequest):
    """A tag's key or value breaks S3's tagging rules (length, duplicate key, ``aws:``)."""

    code = "InvalidTag"


class TooManyTags(BadRequest):
    """More tags than an object may carry (S3 answers this one with its plain BadRequest)."""

    code = "TooManyTags"


class InvalidChunkName(BadRequest):
    """A chunk name must be 64 lowercase hex characters (its SHA-256)."""

    code = "InvalidChunkName"


class MalformedJSON(BadRequest):
    """The request body is not the JSON document this route expects."""

    code = "MalformedJSON"


class BadDigest(BadRequest):
    """The body does not match the checksum that was sent or declared."""

    code = "BadDigest"


class IncompleteBody(BadRequest):
    """The body ended before the announced length."""

    code = "IncompleteBody"


class SizeMismatch(BadRequest):
    """The body size differs from the declared size."""

    code = "SizeMismatch"


class EntityTooLarge(BadRequest):
    """The body is larger than this route accepts."""

    code = "EntityTooLarge"


class EntityTooSmall(BadRequest):
    """A part other than the last is smaller than the minimum part size."""

    code = "EntityTooSmall"


class InvalidPart(BadRequest):
    """A listed part was not uploaded, or its ETag does not match."""

    code = "InvalidPart"


class InvalidPartOrder(BadRequest):
    """Parts must be listed in ascending order of part number."""

    code = "InvalidPartOrder"


class MalformedXML(BadRequest):
    """The XML body is not well-formed or does not match the expected schema."""

    code = "MalformedXML"


class InvalidDigest(BadRequest):
    """A checksum header is not a valid encoding of its algorithm's digest."""

    code = "InvalidDigest"


class InvalidRequest(BadRequest):
    """The request is not valid."""

    code = "InvalidRequest"


class AuthorizationHeaderMalformed(BadRequest):
    """The authorization header or query is malformed."""

    code = "AuthorizationHeaderMalformed"


class AuthorizationQueryParametersError(BadRequest):
    """A presigned URL's query parameters break SigV4's rules (its expiry, say)."""

    code = "AuthorizationQueryParametersError"


class Unauthenticated(XoloError):
    """Credentials are required."""

    status = 401
    code = "Unauthenticated"


class InvalidCredentials(Unauthenticated):
    """The credentials are not valid."""

    status = 401
    code = "InvalidCredentials"


class AccessDenied(XoloError):
    """Access denied."""

    status = 403
    code = "AccessDenied"


class SignatureDoesNotMatch(XoloError):
    """The request signature does not match the one computed with the secret."""

    status = 403
    code = "SignatureDoesNotMatch"


class InvalidAccessKeyId(XoloError):
    """The access key id does not exist."""

    status = 403
    code = "InvalidAccessKeyId"


class RequestTimeTooSkewed(XoloError):
    """The request time differs from the server's by more than 15 minutes."""

    status = 403
    code = "RequestTimeTooSkewed"


class NotFound(XoloError):
    """Not found."""

    status = 404
    code = "NotFound"


class NoSuchBucket(NotFound):
    """The bucket does not exist."""

    code = "NoSuchBucket"


class NoSuchKey(NotFound):
    """The object does not exist."""

    code = "NoSuchKey"


class NoSuchVersion(NotFound):
    """The specified version does not exist."""

    code = "NoSuchVersion"


class NoSuchUpload(NotFound):
    """The upload does not exist, has expired or was already used."""

    code = "NoSuchUpload"


class NoSuchLifecycleConfiguration(NotFound):
    """The bucket has no lifecycle rules."""

    code = "NoSuchLifecycleConfiguration"


class NoSuchCORSConfiguration(NotFound):
    """The bucket has no CORS rules."""

    code = "NoSuchCORSConfiguration"


class NoSuchChunk(NotFound):
    """The chunk does not exist."""

    code = "NoSuchChunk"


class MethodNotAllowed(XoloError):
    """The method is not allowed on this resource."""

    status = 405
    code = "MethodNotAllowed"


class Conflict(XoloError):
    """The request conflicts with the current state."""

    status = 409
    code = "Conflict"


class LeaseLost(Conflict):
    """A background task's holder could not renew its lease, so the run stopped before another
    holder could start the same task beside it."""

    code = "LeaseLost"


class StaleHeartbeat(Conflict):
    """A peer's heartbeat is no newer than the one the cluster recorded: a replay, or one
    overtaken in flight. Nothing changes."""

    code = "StaleHeartbeat"


class MissingChunks(Conflict):
    """A direct transfer's manifest names chunks that lack their copies: write them first."""

    code = "MissingChunks"


class BucketNotEmpty(Conflict):
    """The bucket is not empty."""

    code = "BucketNotEmpty"


class BucketAlreadyOwnedByYou(Conflict):
    """The bucket already exists and is yours."""

    code = "BucketAlreadyOwnedByYou"


class BucketAlreadyExists(Conflict):
    """The bucket name is taken by another account."""

    code = "BucketAlreadyExists"


class ConcurrentUpdate(Conflict):
    """The object changed while this request was being applied; retry it."""

    code = "ConcurrentUpdate"


class PreconditionFailed(XoloError):
    """At least one precondition did not hold."""

    status = 412
    code = "PreconditionFailed"


class InvalidPartNumber(XoloError):
    """A ``partNumber`` read beyond the object's parts."""

    status = 416
    code = "InvalidPartNumber"


class InvalidRange(XoloError):
    """The requested range is not satisfiable."""

    status = 416
    code = "InvalidRange"

    def __init__(self, message: str = "", *, size: int | None = None) -> None:
        super().__init__(message)
        self.size = size


class NotModified(XoloError):
    """Not modified."""

    status = 304
    code = "NotModified"


class NotImplementedByXolo(XoloError):
    """This feature is not implemented."""

    status = 501
    code = "NotImplemented"


class ServiceUnavailable(XoloError):
    """The service is temporarily unavailable."""

    status = 503
    code = "ServiceUnavailable"


class TransportError(ServiceUnavailable):
    """No answer from the server: the connection was refused, reset or timed out (raised by
    the client, never by a server)."""

    code = "TransportError"


class IntegrityError(XoloError):
    """Bytes received do not match the digest recorded for them (raised by the client)."""

    status = 502
    code = "IntegrityError"


class ChunkCollected(ServiceUnavailable):
    """A chunk this write names was garbage-collected while the write was in progress; retry."""

    code = "ChunkCollected"


class InsufficientReplicas(ServiceUnavailable):
    """Fewer peers than the bucket's write quorum stored the data; nothing was committed."""

    code = "InsufficientReplicas"


class ChunkUnavailable(ServiceUnavailable):
    """No readable, intact copy of a chunk the object needs could be reached right now."""

    code = "ChunkUnavailable"


class StoreUnavailable(ServiceUnavailable):
    """The metadata store could not be reached, or stayed busy past its retries."""

    code = "StoreUnavailable"


class PeerUnavailable(ServiceUnavailable):
    """A storage peer could not be reached or did not answer in time."""

    code = "PeerUnavailable"


class ChunkCorrupt(ServiceUnavailable):
    """A copy of a chunk did not hash to its name; another copy must be read."""

    code = "ChunkCorrupt"
