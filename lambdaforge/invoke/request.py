"""One invocation's identity and limits: what the handler's context says about it.

The values Lambda gives a function's context object (python-context.html,
nodejs-context.html): the function's name and version (``$LATEST``), the ARN it was invoked
by (``arn:aws:lambda:REGION:123456789012:function:NAME``, the account being the one AWS's
examples use), the memory size, a fresh request id (a UUID, as Lambda's are), the log
group and stream, and the timeout the remaining time counts down from.
"""

from __future__ import annotations

import uuid

from msgspec import Struct

#: the account id in ARNs of a local invocation (AWS's documentation account)
LOCAL_ACCOUNT = "123456789012"
#: Lambda's default function timeout, in seconds
DEFAULT_TIMEOUT_S = 3.0


class Invocation(Struct, frozen=True):
    """The context values of one invocation of a function."""

    function_name: str
    region: str
    memory_mb: int
    timeout_s: float
    log_stream_name: str
    request_id: str

    @classmethod
    def new(cls, function_name: str, *, region: str, memory_mb: int, timeout_s: float,
            log_stream_name: str) -> Invocation:
        """An invocation with a fresh request id (``uuid4``)."""
        return cls(function_name, region, memory_mb, timeout_s, log_stream_name,
                   str(uuid.uuid4()))

    @property
    def arn(self) -> str:
        """``invoked_function_arn``: the unqualified ARN of the function."""
        return f"arn:aws:lambda:{self.region}:{LOCAL_ACCOUNT}:function:{self.function_name}"

    def context_values(self) -> dict[str, str]:
        """What the child's context object is made of (both runtimes read these keys);
        the memory size is a string, as the runtimes take it from the environment."""
        return {
            "function_name": self.function_name,
            "function_version": "$LATEST",
            "invoked_function_arn": self.arn,
            "memory_limit_in_mb": str(self.memory_mb),
            "aws_request_id": self.request_id,
            "log_group_name": f"/aws/lambda/{self.function_name}",
            "log_stream_name": self.log_stream_name,
        }
