"""Script mode and fault queues: per-run state, consumed one model call at a time.

Tests describe exactly what the model says (ordered steps per agent, like pydantic-ai's
``FunctionModel`` or the Agents SDK's fake model) and which failures to inject. The store is
keyed by run id (or workflow id) so many tests can share one server concurrently; every call is
logged so a test can assert what happened and that nothing scripted was left over.
"""

from __future__ import annotations

import copy
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "Attribution",
    "Expectation",
    "Fault",
    "Plan",
    "ScriptStep",
    "ScriptStore",
    "ScriptToolCall",
    "parse_script",
]

_STATUS = re.compile(r"^[45]\d\d$")
_STEP_FAULTS = ("hang", "malformed")
_QUEUE_ONLY = ("latency", "ok", "invalid_tool_args")
_MAX_RUNS = 1024
_MAX_CALLS = 2_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Fault(_Model):
    """A failure injected into one call.

    ``fault``: an HTTP status ``"400"``-``"599"`` (error body in the provider's shape; ``"429"``
    sends ``Retry-After``), ``"hang"`` (sleep ``seconds``, then 504), ``"malformed"`` (200 with a
    body that is not JSON); in fault queues also ``"latency"`` (sleep ``seconds``, then answer
    normally), ``"ok"`` (no fault: lets a queue say "the second call fails") and
    ``"invalid_tool_args"`` (answer normally, but the first tool call's arguments are not JSON).
    ``agent``: in a queue, only a call by that agent consumes this fault.
    """

    fault: str
    retry_after: float | None = Field(default=None, ge=0)
    seconds: float = Field(default=0.0, ge=0)
    message: str | None = None
    agent: str | None = None

    @field_validator("fault", mode="before")
    @classmethod
    def _known(cls, value: Any) -> str:
        text = str(value)
        if not (_STATUS.match(text) or text in _STEP_FAULTS or text in _QUEUE_ONLY):
            raise ValueError(
                f"unknown fault {text!r}: use an HTTP status 400-599, 'hang', 'malformed', "
                "'latency', 'ok' or 'invalid_tool_args'"
            )
        return text


class ScriptToolCall(_Model):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    id: str | None = None


class Expectation(_Model):
    """Checks on the request a step answers; a failed check answers 400
    ``script_expectation_failed`` so the test sees the conversation was not what it expected."""

    last_message_contains: str | None = None
    tools_include: tuple[str, ...] = ()


class ScriptStep(_Model):
    """One scripted model turn. Exactly one of: ``content`` alone, ``tool_calls`` (optionally
    with ``content``), ``json``, ``raw_arguments`` + ``name``, or ``fault`` (status, hang,
    malformed). Any step may add ``latency_s`` and ``expect``."""

    content: str | None = None
    tool_calls: tuple[ScriptToolCall, ...] | None = None
    json_value: Any = Field(default=None, alias="json")
    raw_arguments: str | None = None
    name: str | None = None
    fault: str | None = None
    retry_after: float | None = Field(default=None, ge=0)
    seconds: float = Field(default=0.0, ge=0)
    message: str | None = None
    latency_s: float = Field(default=0.0, ge=0)
    expect: Expectation | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ScriptStep:
        present = {
            "tool_calls": self.tool_calls is not None,
            "json": "json_value" in self.model_fields_set,
            "raw_arguments": self.raw_arguments is not None,
            "fault": self.fault is not None,
        }
        kinds = [k for k, there in present.items() if there]
        lone = kinds in (["json"], ["fault"]) and self.content is not None
        if len(kinds) > 1 or lone or (not kinds and self.content is None):
            raise ValueError(
                "a step is one of: content, tool_calls (+content), json, raw_arguments "
                f"(+content), fault (got {kinds + ['content'] * (self.content is not None)})"
            )
        if self.raw_arguments is not None and not self.name:
            raise ValueError("a raw_arguments step needs the tool 'name'")
        if self.fault is not None:
            Fault(fault=self.fault)  # same vocabulary
            if self.fault in _QUEUE_ONLY:
                raise ValueError(
                    f"fault {self.fault!r} only exists in fault queues; in a script "
                    "use latency_s or raw_arguments"
                )
        return self

    @property
    def kind(self) -> str:
        if self.fault is not None:
            return "fault"
        if self.tool_calls is not None:
            return "tool_calls"
        if "json_value" in self.model_fields_set:
            return "json"
        return "raw_arguments" if self.raw_arguments is not None else "content"

    def as_fault(self) -> Fault | None:
        if self.fault is None:
            return None
        return Fault(
            fault=self.fault,
            retry_after=self.retry_after,
            seconds=self.seconds,
            message=self.message,
        )


@dataclass(frozen=True)
class Attribution:
    """Who is calling, from the ``X-Baton-*`` headers the adapters send."""

    run_id: str | None = None
    workflow_id: str | None = None
    agent: str = "default"
    step: str | None = None


@dataclass(frozen=True)
class Plan:
    """What to do with one call, decided atomically under the store's lock."""

    run_key: str
    call_index: int
    fault: Fault | None = None
    step: ScriptStep | None = None
    step_index: int | None = None
    error: tuple[str, str] | None = None  # (error type, message): answer 400 with it
    scripted: bool = False


@dataclass
class _Run:
    script: dict[str, list[ScriptStep]] | None = None
    cursor: dict[str, int] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    controlled: bool = False  # created through the control API (never evicted)
    total_calls: int = 0


class ScriptStore:
    """Thread-safe per-run scripts, fault queues and call logs.

    ``default_script`` (from ``serve(script_file=...)``) is copied into every run that has no
    script of its own, so each run consumes the file's steps independently.
    """

    def __init__(self, default_script: dict[str, list[ScriptStep]] | None = None) -> None:
        self._lock = threading.Lock()
        self._runs: OrderedDict[str, _Run] = OrderedDict()
        self._default = default_script

    def set_script(self, run_id: str, agents: dict[str, list[ScriptStep]]) -> None:
        with self._lock:
            run = self._get(run_id, controlled=True)
            run.script, run.cursor = {a: list(s) for a, s in agents.items()}, {}

    def set_faults(self, run_id: str, faults: list[Fault]) -> None:
        with self._lock:
            self._get(run_id, controlled=True).faults = list(faults)

    def clear(self, run_id: str) -> bool:
        with self._lock:
            return self._runs.pop(run_id, None) is not None

    def state(self, run_id: str) -> dict[str, Any]:
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                return {"exists": False, "leftovers": {}, "calls": [], "faults_left": 0}
            leftovers = {a: len(s) - run.cursor.get(a, 0) for a, s in (run.script or {}).items()}
            return {
                "exists": True,
                "leftovers": leftovers,
                "calls": copy.deepcopy(run.calls),
                "faults_left": len(run.faults),
            }

    def plan(self, who: Attribution) -> Plan:
        with self._lock:
            key = self._key(who)
            run = self._get(key, controlled=False)
            index = run.total_calls
            run.total_calls += 1
            fault = next((f for f in run.faults if f.agent in (None, who.agent)), None)
            if fault is not None:
                run.faults.remove(fault)
            script = run.script
            if script is None and self._default is not None:
                script = run.script = {a: list(s) for a, s in self._default.items()}
            if script is None:
                return Plan(key, index, fault)
            if fault is not None and fault.fault not in ("ok", "latency", "invalid_tool_args"):
                return Plan(key, index, fault, scripted=True)  # the step waits for the next call
            steps, cursor = script.get(who.agent, []), run.cursor.get(who.agent, 0)
            if cursor >= len(steps):
                message = (
                    f"script exhausted: run {key!r}, agent {who.agent!r} made call "
                    f"{cursor + 1} but {len(steps)} call(s) were scripted "
                    f"(scripted agents: {sorted(script)})"
                )
                return Plan(key, index, fault, error=("script_exhausted", message), scripted=True)
            run.cursor[who.agent] = cursor + 1
            return Plan(key, index, fault, steps[cursor], cursor, scripted=True)

    def record(self, plan: Plan, who: Attribution, entry: dict[str, Any]) -> None:
        with self._lock:
            run = self._runs.get(plan.run_key)
            if run is not None and len(run.calls) < _MAX_CALLS:
                run.calls.append(
                    {
                        "agent": who.agent,
                        "step_index": plan.step_index,
                        "workflow_id": who.workflow_id,
                        "step": who.step,
                        "call_index": plan.call_index,
                        **entry,
                    }
                )

    def _key(self, who: Attribution) -> str:
        for candidate in (who.run_id, who.workflow_id):
            run = self._runs.get(candidate) if candidate else None
            if run is not None and (run.script is not None or run.faults):
                return str(candidate)
        return who.run_id or who.workflow_id or "default"

    def _get(self, key: str, *, controlled: bool) -> _Run:
        run = self._runs.get(key)
        if run is None:
            run = self._runs[key] = _Run(controlled=controlled)
            self._evict()
        run.controlled = run.controlled or controlled
        self._runs.move_to_end(key)
        return run

    def _evict(self) -> None:
        """Runs seen only through model calls are forgotten oldest-first beyond a bound, so a
        long-running demo server does not grow without limit."""
        while len(self._runs) > _MAX_RUNS:
            victim = next((k for k, r in self._runs.items() if not r.controlled), None)
            if victim is None:
                break
            del self._runs[victim]


def parse_script(agents: Any) -> dict[str, list[ScriptStep]]:
    """Validate ``{"agent": [step, ...]}``; raises ``ValidationError`` or ``ValueError``."""
    if not isinstance(agents, dict):
        raise ValueError("'agents' must map agent names to lists of steps")
    return {str(a): [ScriptStep.model_validate(s) for s in steps] for a, steps in agents.items()}
