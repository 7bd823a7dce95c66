"""``s3://BUCKET[/PREFIX]`` and the boto3 client, configured the standard AWS way.

Endpoint, region and credentials come from where every AWS tool reads them:
the environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_ENDPOINT_URL``, ``AWS_REGION``, ``AWS_PROFILE``), the shared config and
credentials files, and instance roles. Nothing here adds a way of its own.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from debugnet.errors import InvalidArgument

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True, slots=True)
class S3Location:
    bucket: str
    prefix: str = ""
    """Without slashes at either end; '' for the bucket's top."""

    @classmethod
    def parse(cls, url: str) -> S3Location:
        if not url.startswith("s3://"):
            raise InvalidArgument(f"{url!r} is not an s3://BUCKET[/PREFIX] URL")
        bucket, _, prefix = url[5:].partition("/")
        if not _BUCKET.match(bucket):
            raise InvalidArgument(f"{bucket!r} is not a valid bucket name")
        prefix = prefix.strip("/")
        if ".." in prefix.split("/"):
            raise InvalidArgument(f"prefix {prefix!r} must not contain '..'")
        return cls(bucket, prefix)

    def key(self, relative: str) -> str:
        """The object key of a name relative to the prefix."""
        relative = relative.strip("/") if relative not in ("", ".") else ""
        return "/".join(p for p in (self.prefix, relative) if p)

    def relative(self, key: str) -> str:
        """A key made relative to the prefix again."""
        return key[len(self.prefix) + 1 :] if self.prefix else key

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def error_code(exc: BaseException) -> str | None:
    """The S3 error code of a botocore ``ClientError``, else None."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def is_s3_url(text: str) -> bool:
    return text.startswith("s3://")


def make_client(timeout: float = 30.0, pool: int = 32) -> Any:
    """A boto3 S3 client from the standard configuration chain."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise InvalidArgument("an s3:// store needs boto3: pip install 'debugnet[s3]'") from None
    config = Config(
        connect_timeout=min(timeout, 10.0),
        read_timeout=max(timeout, 10.0),
        retries={"max_attempts": 2, "mode": "standard"},
        max_pool_connections=pool,
        # A private endpoint (MinIO, Ceph, SeaweedFS) is addressed by path; AWS as it likes.
        s3={"addressing_style": "path" if _custom_endpoint() else "auto"},
    )
    return boto3.session.Session().client("s3", config=config)


def _custom_endpoint() -> bool:
    return bool(os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))
