"""Baton's exceptions, all in one tree.

::

    BatonError                     anything Baton raises on purpose
    ├── SpecError                  a team YAML or spec is invalid (file, path in document, problem)
    │   ├── UnknownToolError       a tool name no registered tool module provides
    │   └── RunRefusedError        the worker does not serve a profile or tool the team names
    ├── ToolDefinitionError        a @tool function cannot be turned into a tool
    ├── ProviderError              a model provider call failed (raised inside the llm activity)
    │   ├── ProviderRetryableError     408/409/429/5xx, transport, ``x-should-retry: true``: retried
    │   ├── ProviderUnavailableError   429/5xx that says ``x-should-retry: false``: not retried,
    │   │                              but an outage: the run may fail over
    │   ├── ProviderQuotaError         out of credit (``insufficient_quota``): not retried; fails
    │   │                              over only where the profile allows it
    │   ├── ProviderAuthError          401/403: not retried, fix the key
    │   ├── ProviderRequestError       other 4xx: not retried, the request is wrong
    │   │   └── ProviderContextError   the conversation exceeds the model's context window
    │   ├── ProviderResponseError      undecodable or invalid body: not retried
    │   └── ProviderRetryPastDeadlineError  retryable, but the wait would pass the run's
    │                                  wall-clock deadline: not retried (fail over or stop)
    ├── ConversationMismatchError  the worker could not rebuild a conversation prefix whose digest
    │                              matches the workflow's (never a silent wrong prompt)
    ├── StackError                 the embedded stack cannot start (port in use, binary missing)
    ├── RunNotFoundError           a client asked about a run id Temporal does not know
    ├── RunExistsError             a client started a run with a workflow id already used
    ├── QueryTimeoutError          no worker answered a client's query in time
    ├── ApprovalRefusedError       the workflow refused a decision (unknown, decided, not allowed)
    ├── SessionBusyError           a session already has as many unanswered messages as it queues
    └── SessionClosedError         a session has ended (or ended before it answered a message)

Inside activities these become ``temporalio.exceptions.ApplicationError`` whose ``type`` is the
class name above and whose ``non_retryable`` flag follows the class, so Temporal's own retry
policy, the Temporal UI and ``baton show`` all see the same classification. A provider error
keeps what the provider said about itself (``request_id``, and its error ``code``, ``type`` and
``param``) so a support ticket can name the call.

Tool outcomes the model should see (invalid arguments, a tool that raised, a refused tool) are
*not* exceptions: they travel as data (``ToolOutcome``) back into the conversation.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApprovalRefusedError",
    "BatonError",
    "ConversationMismatchError",
    "ProviderAuthError",
    "ProviderContextError",
    "ProviderError",
    "ProviderQuotaError",
    "ProviderRequestError",
    "ProviderResponseError",
    "ProviderRetryPastDeadlineError",
    "ProviderRetryableError",
    "ProviderUnavailableError",
    "QueryTimeoutError",
    "RunExistsError",
    "RunNotFoundError",
    "RunRefusedError",
    "SessionBusyError",
    "SessionClosedError",
    "SpecError",
    "StackError",
    "ToolDefinitionError",
    "UnknownToolError",
]


class BatonError(Exception):
    """Base of every exception Baton raises on purpose."""

    non_retryable: bool = True


class SpecError(BatonError):
    """A team YAML (or an in-memory spec) is invalid.

    ``file`` is the YAML path when there is one, ``location`` the dotted path inside the document
    (``agents[0].tools[2]``), ``problem`` what is wrong in plain words.
    """

    def __init__(self, problem: str, *, file: str | None = None, location: str | None = None):
        self.problem = problem
        self.file = file
        self.location = location
        where = ": ".join(p for p in (file, location) if p)
        super().__init__(f"{where}: {problem}" if where else problem)


class UnknownToolError(SpecError):
    """An agent lists a tool that no registered tool module provides."""


class RunRefusedError(SpecError):
    """A run was refused at its start: the worker does not serve a model profile or tool the
    team names. ``run_id`` is the refused run (closed ``failed``); ``problems`` lists every
    name with its location."""

    def __init__(self, problem: str, *, run_id: str, problems: list[str],
                 location: str | None = None) -> None:
        super().__init__(problem, location=location)
        self.run_id = run_id
        self.problems = problems


class ToolDefinitionError(BatonError):
    """A function given to ``@tool`` cannot become a tool (missing annotations, bad options)."""


class ProviderError(BatonError):
    """A model provider call failed.

    ``status`` is the HTTP status when there was a response, ``provider`` names the adapter;
    ``request_id`` is the provider's id of the call (``x-request-id``/``request-id``), ``code``,
    ``kind`` and ``param`` are its error body's ``code``, ``type`` and ``param``.
    """

    def __init__(self, message: str, *, provider: str, status: int | None = None,
                 request_id: str | None = None, code: str | None = None,
                 kind: str | None = None, param: str | None = None):
        self.provider = provider
        self.status = status
        self.request_id = request_id
        self.code, self.kind, self.param = code, kind, param
        super().__init__(message)


class ProviderRetryableError(ProviderError):
    """Timeouts, 408/409/429/5xx and transport errors. ``retry_after`` is the delay the server
    asked for (``retry-after-ms``, ``Retry-After`` or a rate-limit reset), uncapped."""

    non_retryable = False

    def __init__(self, message: str, *, retry_after: float | None = None, **fields: Any):
        super().__init__(message, **fields)
        self.retry_after = retry_after


class ProviderUnavailableError(ProviderError):
    """An overload or rate limit the provider said not to retry (``x-should-retry: false``)."""


class ProviderQuotaError(ProviderError):
    """The account is out of credit or quota: retrying cannot help until someone pays."""


class ProviderAuthError(ProviderError):
    """401/403: the API key is missing, wrong or not allowed to use the model."""


class ProviderRequestError(ProviderError):
    """Any other 4xx: the request itself is wrong (bad model name, bad schema, ...)."""


class ProviderContextError(ProviderRequestError):
    """The conversation does not fit the model's context window."""


class ProviderResponseError(ProviderError):
    """The provider answered 2xx with a body that is not what its API promises."""


class ProviderRetryPastDeadlineError(ProviderError):
    """A retryable failure whose next attempt could only start past the run's wall-clock
    deadline (a long ``Retry-After``, or a backoff longer than what is left): raised by the
    failing attempt itself, so the run fails over or ends ``budget_exhausted`` at once."""


class ConversationMismatchError(BatonError):
    """A rebuilt conversation prefix does not match the digest the workflow sent."""


class StackError(BatonError):
    """The embedded stack cannot start or be reached."""


class RunNotFoundError(BatonError):
    """No run with that id exists on the Temporal namespace."""


class RunExistsError(BatonError):
    """``start(run_id=...)`` named a workflow id that is running or was used before."""


class QueryTimeoutError(BatonError):
    """No worker answered a query in time (none is polling the run's task queue, or all busy)."""


class ApprovalRefusedError(BatonError):
    """The workflow refused a decision (unknown or decided approval, approver not allowed)."""


class SessionBusyError(BatonError):
    """A session refused a message: as many messages as it queues wait for a reply already
    (Temporal bounds the updates in flight per workflow). Send it once a reply has come."""


class SessionClosedError(BatonError):
    """The session has ended (closed, idle, out of budget or cancelled), or ended before it
    answered this message."""
