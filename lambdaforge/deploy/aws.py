"""The AWS side of ``forge deploy``: boto3 clients and AWS failures as one-line errors.

boto3 is imported here only, inside functions, so no command but ``forge deploy`` pays for it
(~130 ms, design §6). Credentials, endpoints and retry limits come from the standard AWS chain
(environment variables such as ``AWS_PROFILE``, ``AWS_ENDPOINT_URL`` or ``AWS_MAX_ATTEMPTS``,
``~/.aws``, SSO, instance roles); ``[deploy] region`` and ``profile`` only choose within it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from msgspec import Struct, field

from lambdaforge.errors import ForgeError

T = TypeVar("T")

#: How often, and how long at most, a write refused with ``ResourceConflictException`` (an
#: update still in progress, e.g. one started by someone else) is tried again.
CONFLICT_ATTEMPTS = 6
CONFLICT_MAX_DELAY = 8.0


class DeployError(ForgeError):
    """A deploy step failed: which function or layer, and AWS's error code and message."""

    exit_code = 1


class Clients(Struct):
    """The Lambda and S3 clients of one deploy (S3 made only when a package needs it)."""

    session: Any
    lambda_: Any
    #: connections per client: at least as many as the deploy's threads
    pool: int = 10
    _s3: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def s3(self) -> Any:
        """The S3 client, for packages over the direct upload limit (made once: a boto3
        session is not thread-safe, its clients are)."""
        with self._lock:
            if self._s3 is None:
                self._s3 = self.session.client("s3", config=_client_config(self.pool))
        return self._s3


def _client_config(pool: int) -> Any:
    from botocore.config import Config

    # "standard" retries throttling and transient errors with backoff; the number of attempts
    # stays the AWS chain's (AWS_MAX_ATTEMPTS, the profile's max_attempts; 3 by default).
    return Config(retries={"mode": "standard"}, connect_timeout=10, read_timeout=120,
                  max_pool_connections=max(10, pool))


def make_clients(region: str | None, profile: str | None, pool: int = 10) -> Clients:
    """Clients for ``region`` and ``profile`` (``None``: the AWS chain decides) sized for
    ``pool`` threads; a missing profile or region is a ``DeployError``."""
    import boto3
    import botocore.exceptions as bce

    try:
        session = boto3.Session(profile_name=profile, region_name=region)
        return Clients(session=session, pool=pool,
                       lambda_=session.client("lambda", config=_client_config(pool)))
    except bce.ProfileNotFound as exc:
        raise DeployError(f"[deploy] profile: {exc}") from None
    except bce.NoRegionError:
        raise DeployError("no AWS region: set [deploy] region, AWS_REGION or the profile's "
                          "region") from None


def describe(exc: BaseException) -> str | None:
    """``CODE: message`` of an AWS or connection failure; ``None`` for anything else."""
    import botocore.exceptions as bce

    if isinstance(exc, bce.ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Unknown')}: {error.get('Message', '')}".rstrip(": ")
    if isinstance(exc, bce.WaiterError):
        last = exc.last_response or {}
        state = last.get("Configuration", last)
        reason = state.get("LastUpdateStatusReason") or state.get("StateReason")
        return f"WaiterError: {exc}" + (f" (Lambda says: {reason})" if reason else "")
    if isinstance(exc, (bce.NoCredentialsError, bce.PartialCredentialsError)):
        return f"NoCredentials: {exc} (configure the AWS chain: AWS_PROFILE, ~/.aws, SSO…)"
    if isinstance(exc, bce.BotoCoreError):
        return f"{type(exc).__name__}: {exc}"
    return None


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a ``ClientError`` (``ResourceNotFoundException``…)."""
    import botocore.exceptions as bce

    if isinstance(exc, bce.ClientError):
        return exc.response.get("Error", {}).get("Code")
    return None


def call(what: str, fn: Callable[..., T], /, *args: Any,
         sleep: Callable[[float], None] = time.sleep, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, retried with bounded exponential backoff while AWS answers
    ``ResourceConflictException`` (an update in progress: botocore does not retry it); any
    AWS failure becomes a ``DeployError`` naming ``what`` ("function 'api'")."""
    delay = 0.5
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if error_code(exc) == "ResourceConflictException" and attempt < CONFLICT_ATTEMPTS:
                sleep(delay)
                delay = min(delay * 2, CONFLICT_MAX_DELAY)
                continue
            text = describe(exc)
            if text is None:
                raise
            raise DeployError(f"{what}: {text}") from None
    raise AssertionError("unreachable")  # the loop returns or raises


def wait(clients: Clients, waiter: str, function_name: str, what: str) -> None:
    """Wait until Lambda has finished the last write to ``function_name``
    (``function_updated_v2`` after an update, ``function_active_v2`` after a create)."""
    call(what, clients.lambda_.get_waiter(waiter).wait, FunctionName=function_name,
         WaiterConfig={"Delay": 1, "MaxAttempts": 600})
