"""Which tool exceptions Temporal retries, and which the model reads.

The rule (docs/architecture.md#typed-payloads-untrusted-input: tool outcomes are data, only
infrastructure failures raise):

1. ``temporalio.exceptions.ApplicationError`` raised by a tool passes through unchanged: the tool
   asked for Temporal semantics (its own ``non_retryable``, ``next_retry_delay``, ``type``).
2. *Transient* exceptions are retried by Temporal under the tool's ``RetrySpec``:
   ``RetryableToolError`` (raise it, optionally with ``retry_after``, when your backend says
   "try again"), ``ConnectionError``, ``TimeoutError`` and ``httpx.TransportError``. On the
   last attempt (``attempt >= spec.retry.max_attempts``) the failure becomes an error outcome
   ``tool_unavailable`` instead, so the model can still decide what to do rather than the whole
   agent failing.
3. Every other exception becomes an error outcome ``tool_raised`` ("tool X failed: Type: msg")
   and is *not* retried: a ``ValueError`` or ``LookupError`` is an answer about the arguments,
   and retrying it would only repeat it.

Other ``OSError``s (``FileNotFoundError``, ``PermissionError``) are deliberately not transient:
retrying a missing file does not make it appear.
"""

from __future__ import annotations

import httpx

__all__ = ["TRANSIENT_ERRORS", "RetryableToolError"]


class RetryableToolError(Exception):
    """Raise from a tool to ask Temporal for another attempt (e.g. a 503 from your backend).

    ``retry_after`` (seconds) overrides the retry policy's next backoff interval, the way an
    HTTP ``Retry-After`` header would.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    RetryableToolError,
    ConnectionError,
    TimeoutError,
    httpx.TransportError,
)
