"""The effective remote cache of a build: the ``[cache]`` table, then the environment
(``FORGE_REMOTE_CACHE``), then the command line (``--remote-mode``).

Plain data and string checks only: importing this never imports boto3, so a build without a
remote pays nothing for the feature.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from msgspec import Struct
from msgspec.structs import replace

#: a remote cache URL overriding ``[cache] remote`` (an empty value turns the remote off)
REMOTE_VARIABLE = "FORGE_REMOTE_CACHE"
#: the HMAC key that signs action entries on write and is required of them on read
SIGNING_KEY_VARIABLE = "FORGE_CACHE_SIGNING_KEY"
MODES = ("read", "read-write")

_URL = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(?P<prefix>.*))?$")


class RemoteSettings(Struct, frozen=True):
    """Where the remote cache is and how a build may use it."""

    bucket: str
    #: key prefix inside the bucket, without leading or trailing slash ("" for none)
    prefix: str = ""
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    #: ``read``: only download; ``read-write``: also upload what this build made
    mode: str = "read"

    @property
    def url(self) -> str:
        """The ``s3://`` form, for messages."""
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    @property
    def writes(self) -> bool:
        """Whether this build uploads its results."""
        return self.mode == "read-write"

    def to_json(self) -> dict[str, str | None]:
        """Plain data (the plan cache keeps the project's remote with it)."""
        return {"bucket": self.bucket, "prefix": self.prefix, "region": self.region,
                "profile": self.profile, "endpoint_url": self.endpoint_url, "mode": self.mode}


def url_problem(url: str) -> str | None:
    """What is wrong with a remote cache URL, or ``None``: an ``s3://BUCKET/PREFIX`` with a
    valid bucket name and no credentials in it."""
    if "@" in url.split("/", 3)[2] if url.count("/") >= 2 else False:
        return ("credentials never go in the config: remove them from the URL (the standard "
                "AWS chain provides them)")
    if _URL.match(url) is None:
        return f"expected s3://BUCKET/PREFIX (a valid S3 bucket name), not {url!r}"
    return None


def parse_url(url: str) -> tuple[str, str]:
    """``s3://bucket/a/b/`` → ``("bucket", "a/b")``; ``ValueError`` with ``url_problem``'s
    sentence when it is not one."""
    problem = url_problem(url)
    if problem is not None:
        raise ValueError(problem)
    match = _URL.match(url)
    assert match is not None
    return match["bucket"], (match["prefix"] or "").strip("/")


def effective(configured: RemoteSettings | None, env: Mapping[str, str],
              mode: str | None = None) -> RemoteSettings | None:
    """The remote a build uses: ``FORGE_REMOTE_CACHE`` replaces the configured URL (keeping
    its region, profile, endpoint and mode; empty turns the remote off), ``mode`` (from
    ``--remote-mode``) replaces the mode. ``ValueError`` for a malformed URL or mode."""
    settings = configured
    if REMOTE_VARIABLE in env:
        url = env[REMOTE_VARIABLE].strip()
        if not url:
            return None
        try:
            bucket, prefix = parse_url(url)
        except ValueError as exc:
            raise ValueError(f"${REMOTE_VARIABLE}: {exc}") from None
        settings = (RemoteSettings(bucket, prefix) if settings is None
                    else replace(settings, bucket=bucket, prefix=prefix))
    if settings is not None and mode is not None:
        if mode not in MODES:
            raise ValueError(f"--remote-mode: expected one of {', '.join(MODES)}, not {mode!r}")
        settings = replace(settings, mode=mode)
    return settings
