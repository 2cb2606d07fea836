"""The ``@tool`` decorator and the registry the worker resolves tools from.

A tool is a typed Python function. Its JSON schema comes from the signature (through a pydantic
model) and its descriptions from the docstring (first paragraph; ``Args:`` section for
parameters). A parameter annotated ``ToolContext`` is not part of the schema: Baton fills it with
the idempotency key and run identity.

A worker serves the tools of the modules its configuration names (``tool_modules``): it imports
them at start and serves exactly their tools (``ToolRegistry.serving``). Teams and runs name
tools; they never make a worker import anything. The tools of the worker's MCP servers join the
same registry as their servers come up (:mod:`baton.activities.mcp`), described by the servers'
JSON schemas instead of a signature.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, Field, create_model

from baton.errors import ToolDefinitionError, UnknownToolError
from baton.specs import ApprovalPolicy, RetrySpec, ToolSpec

if TYPE_CHECKING:
    from baton.activities.memory.service import MemoryHandle

__all__ = ["ToolContext", "ToolDefinition", "ToolRegistry", "default_registry", "tool"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class ToolContext:
    """What a tool knows about the call it serves. Send ``idempotency_key`` along with any side
    effect (``Idempotency-Key`` header, unique column): it is the same on every retry."""

    idempotency_key: str
    run_id: str
    workflow_id: str
    agent: str
    step: int
    call_id: str
    attempt: int = 1
    heartbeat: Callable[..., None] = field(default=lambda *_: None, repr=False)
    tenant: str = "default"
    subject: str | None = None  # whom the run is about (a customer, a repository)
    # Long-term memory of the run's tenant and subject, under the team's policy: given to the
    # built-in memory tools (docs/memory.md).
    memory: MemoryHandle | None = field(default=None, repr=False)
    # What running the tool cost beyond its time (report_cost): recorded with the call, and
    # kept with a cached result, so a cache hit shows what it saved.
    tokens: int = 0
    cost_usd: float = 0.0

    def report_cost(self, *, tokens: int = 0, cost_usd: float = 0.0) -> None:
        """Say what this call spent on its own (a model it called, a paid API): it is added up
        per call, shown in ``baton show`` and the cost report, and counted as saved by every
        cache hit that serves this call's result."""
        self.tokens += tokens
        self.cost_usd += cost_usd


@dataclass(frozen=True)
class ToolDefinition:
    """A served tool: its spec and the callable behind it.

    ``arguments_model`` is the pydantic model of an ``@tool`` function's signature: arguments are
    validated and coerced by it and passed as keyword arguments. ``None`` means the tool is
    described by its JSON schema only (``spec.parameters``, e.g. an MCP server's tool): arguments
    are checked against the schema and ``fn`` receives them as one dict, ``arguments``.
    """

    spec: ToolSpec
    module: str  # the module (or "mcp:SERVER") that defines it: what a worker is configured with
    fn: Callable[..., Any]
    arguments_model: type[BaseModel] | None
    context_param: str | None

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.fn)


_ARGS_HEADER = re.compile(r"^\s*(Args|Arguments|Parameters):\s*$")
_ARG_LINE = re.compile(r"^\s*(\w+)\s*(?:\([^)]*\))?\s*:\s*(.+)$")


def _parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """First paragraph as the description; Google-style ``Args:`` entries per parameter."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    for line in lines:
        if not line.strip() or _ARGS_HEADER.match(line):
            break
        summary.append(line.strip())
    params: dict[str, str] = {}
    current: str | None = None
    arg_indent: int | None = None
    in_args = False
    for line in lines:
        if _ARGS_HEADER.match(line):
            in_args = True
            continue
        if not in_args or not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:  # the next section (Returns:, Raises:) starts
            in_args = False
            continue
        match = _ARG_LINE.match(line)
        if match and (arg_indent is None or indent <= arg_indent):
            arg_indent = indent
            current = match.group(1)
            params[current] = match.group(2).strip()
        elif current is not None:
            params[current] += " " + line.strip()
    return " ".join(summary), params


class _Args(BaseModel):
    # Models invent keys; refusing them gives the model a precise error to fix.
    model_config = ConfigDict(extra="forbid")


def _build(fn: Callable[..., Any], **options: Any) -> ToolDefinition:
    name = options.pop("name", None) or fn.__name__
    description, param_docs = _parse_docstring(fn.__doc__)
    description = options.pop("description", None) or description
    if not description:
        raise ToolDefinitionError(f"tool {name!r} needs a docstring or description=")
    try:
        hints = get_type_hints(fn)
    except Exception as exc:
        raise ToolDefinitionError(f"tool {name!r}: cannot resolve annotations: {exc}") from exc
    fields: dict[str, Any] = {}
    context_param = None
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(f"tool {name!r}: *args/**kwargs cannot be described")
        annotation = hints.get(param.name)
        if annotation is None:
            raise ToolDefinitionError(f"tool {name!r}: parameter {param.name!r} has no annotation")
        if annotation is ToolContext:
            context_param = param.name
            continue
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (annotation, Field(default, description=param_docs.get(param.name)))
    model = create_model(f"{name}_arguments", __base__=_Args, **fields)
    schema = model.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    approval = options.pop("approval", None)
    if isinstance(approval, str):
        approval = ApprovalPolicy(mode=approval)
    retry = options.pop("retry", None)
    try:
        spec = ToolSpec(
            name=name,
            description=description,
            parameters=schema,
            approval=approval or ApprovalPolicy(),
            retry=retry or RetrySpec(),
            **options,
        )
    except ValueError as exc:
        raise ToolDefinitionError(f"tool {name!r}: {exc}") from exc
    return ToolDefinition(spec=spec, module=fn.__module__, fn=fn, arguments_model=model,
                          context_param=context_param)


class ToolRegistry:
    """Name → ToolDefinition. The worker's registry is the only place callables live."""

    def __init__(self) -> None:
        self._tools: dict[str, ToolDefinition] = {}

    def register(self, definition: ToolDefinition) -> None:
        existing = self._tools.get(definition.spec.name)
        if existing is not None and existing.module != definition.module:
            raise ToolDefinitionError(
                f"tool {definition.spec.name!r} is registered by both {existing.module} "
                f"and {definition.module}"
            )
        self._tools[definition.spec.name] = definition

    def get(self, name: str) -> ToolDefinition | None:
        return self._tools.get(name)

    def resolve(self, name: str) -> ToolDefinition:
        """The tool called ``name``; UnknownToolError names the tools that are registered."""
        definition = self._tools.get(name)
        if definition is None:
            raise UnknownToolError(
                f"unknown tool {name!r}; registered tools: {sorted(self._tools) or 'none'}"
            )
        return definition

    def load_modules(self, modules: list[str] | tuple[str, ...]) -> None:
        for module in modules:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise UnknownToolError(f"cannot import tool module {module!r}: {exc}") from exc

    def names(self) -> list[str]:
        return sorted(self._tools)

    def specs(self) -> dict[str, ToolSpec]:
        return {name: self._tools[name].spec for name in self.names()}

    def serving(self, modules: list[str] | tuple[str, ...]) -> ToolRegistry:
        """Import ``modules`` and return a registry of exactly their tools: what a worker
        configured with these modules serves (never a tool some other import registered)."""
        self.load_modules(modules)
        served = ToolRegistry()
        for definition in self._tools.values():
            if definition.module in modules:
                served.register(definition)
        return served


default_registry = ToolRegistry()


@overload
def tool(fn: F, /) -> F: ...
@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    effect: Literal["read", "write"] = "read",
    cacheable: bool = False,
    cache_ttl_s: float = 300.0,
    timeout_s: float = 30.0,
    heartbeat_s: float | None = None,
    retry: RetrySpec | None = None,
    approval: ApprovalPolicy | Literal["never", "always"] | None = None,
    expiry_may_approve: bool = False,
    stop: bool = False,
    registry: ToolRegistry | None = None,
) -> Callable[[F], F]: ...
def tool(fn: Any = None, /, *, registry: ToolRegistry | None = None, **options: Any) -> Any:
    """Register a typed function as a tool. Usable bare (``@tool``) or with options."""

    def decorate(func: F) -> F:
        definition = _build(func, **options)
        (registry or default_registry).register(definition)
        func.__baton_tool__ = definition  # type: ignore[attr-defined]
        return func

    return decorate(fn) if fn is not None else decorate
