"""Scripts (what the model answers: ordered steps per agent) and fault queues (which calls fail,
how), the contract tests drive the model with. Both belong to one run (run id or workflow id), so
tests share one server; every call is logged, so a test can assert what happened and leftovers."""

from __future__ import annotations

import copy
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["Fault", "Plan", "ScriptStep", "ScriptStore", "load_script_file", "parse_script"]

_ANSWERED = ("latency", "ok", "invalid_tool_args")  # queue-only faults: the call is still answered
_MAX_RUNS, _MAX_CALLS = 1024, 2_000  # a long-running demo server stays bounded


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _FaultFields(_Frozen):
    fault: str | None = None
    retry_after: float | None = Field(default=None, ge=0)
    seconds: float = Field(default=0.0, ge=0)
    message: str | None = None
    body: Any = None  # the whole answer, as a provider documents it (instead of the default)
    headers: dict[str, str] = Field(default_factory=dict)  # sent with it

    @field_validator("fault", mode="before")
    @classmethod
    def _known(cls, value: Any) -> str | None:
        if value is not None and not re.fullmatch(
                rf"200|[45]\d\d|hang|malformed|{'|'.join(_ANSWERED)}", str(value)):
            raise ValueError(f"unknown fault {value!r}: use an HTTP status 400-599 (or 200 with a "
                             "body), 'hang', 'malformed', 'latency', 'ok' or 'invalid_tool_args'")
        return None if value is None else str(value)


class Fault(_FaultFields):
    """A failure injected into one call: an HTTP status ``"400"``-``"599"`` (the provider's error
    shape, or ``body`` and ``headers`` as a provider sends them, also with ``"200"``; 429 sends
    ``Retry-After``), ``"hang"`` (sleep ``seconds``, then 504) or ``"malformed"`` (200, not JSON);
    in queues also ``"latency"`` (sleep, then answer), ``"ok"`` (no fault) and
    ``"invalid_tool_args"`` (the first call's arguments not JSON); ``agent`` limits who takes it."""

    fault: str
    agent: str | None = None

    @property
    def answers(self) -> bool:
        return self.fault in _ANSWERED


class ScriptToolCall(_Frozen):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    id: str | None = None


class Expectation(_Frozen):
    """Checks on the request a step answers; failing one answers 400 script_expectation_failed."""

    last_message_contains: str | None = None
    messages_contain: tuple[str, ...] = ()  # each somewhere in the request's messages
    tools_include: tuple[str, ...] = ()


class ScriptStep(_FaultFields):
    """One model turn: ``content``, ``tool_calls`` (+content), ``json``, ``raw_arguments`` +
    ``name`` (invalid tool arguments) or a ``fault``; any may add ``latency_s`` and ``expect``."""

    content: str | None = None
    tool_calls: tuple[ScriptToolCall, ...] | None = None
    json_value: Any = Field(default=None, alias="json")
    raw_arguments: str | None = None
    name: str | None = None
    latency_s: float = Field(default=0.0, ge=0)
    expect: Expectation | None = None

    @property
    def kind(self) -> str:
        return next((k for k, there in self._present() if there), "content")

    def _present(self) -> tuple[tuple[str, bool], ...]:
        return (("fault", self.fault is not None), ("tool_calls", self.tool_calls is not None),
                ("json", "json_value" in self.model_fields_set),
                ("raw_arguments", self.raw_arguments is not None))

    @model_validator(mode="after")
    def _one_kind(self) -> ScriptStep:
        kinds = [k for k, there in self._present() if there]
        if len(kinds) > 1 or (kinds in (["json"], ["fault"]) and self.content is not None) or (
                not kinds and self.content is None):
            raise ValueError(
                "a step is one of: content, tool_calls (+content), json, raw_arguments "
                f"(+content), fault (got {kinds + ['content'] * (self.content is not None)})")
        if self.raw_arguments is not None and not self.name:
            raise ValueError("a raw_arguments step needs the tool 'name'")
        if self.fault in _ANSWERED:
            raise ValueError(f"fault {self.fault!r} only exists in fault queues; in a script "
                             "use latency_s or raw_arguments")
        return self


def parse_script(agents: Any) -> dict[str, list[ScriptStep]]:
    """Validate ``{"agent": [step, ...]}``; raises ``ValidationError`` or ``ValueError``."""
    if not isinstance(agents, dict):
        raise ValueError("'agents' must map agent names to lists of steps")
    return {str(a): [ScriptStep.model_validate(s) for s in steps] for a, steps in agents.items()}


def load_script_file(path: str | Path) -> dict[str, list[ScriptStep]]:
    """A server-wide script, YAML or JSON: ``{"agents": {"<agent>": [step, ...]}}``."""
    document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(document, dict) or "agents" not in document:
        raise ValueError(f"{path}: a script file holds {{'agents': {{agent: [steps]}}}}")
    return parse_script(document["agents"])


@dataclass
class _Run:
    script: dict[str, list[ScriptStep]] | None = None
    cursor: dict[str, int] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    controlled: bool = False  # created through the control API: never evicted
    total_calls: int = 0


@dataclass(frozen=True)
class Plan:
    """What to do with one call, decided atomically under the store's lock."""

    agent: str
    workflow_id: str | None
    step_header: str | None  # the caller's X-Baton-Step
    run_key: str
    call_index: int
    fault: Fault | None = None
    step: ScriptStep | None = None
    step_index: int | None = None
    error: tuple[str, str] | None = None  # (error type, message): answer 400 with it


class ScriptStore:
    """Per-run scripts, fault queues, call logs; a script file's steps are copied into each run."""

    def __init__(self, default_script: dict[str, list[ScriptStep]] | None = None) -> None:
        self._lock, self._default = threading.Lock(), default_script
        self._runs: OrderedDict[str, _Run] = OrderedDict()

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
            run = self._runs.get(run_id) or _Run()
            leftovers = {a: len(s) - run.cursor.get(a, 0) for a, s in (run.script or {}).items()}
            return {"exists": run_id in self._runs, "leftovers": leftovers,
                    "calls": copy.deepcopy(run.calls), "faults_left": len(run.faults)}

    def plan(self, run_id: str | None, workflow_id: str | None, agent: str,
             step: str | None) -> Plan:
        """The call's fault (first for any agent or this one), else its agent's next step."""
        with self._lock:
            # The run id, unless only the workflow id has a script or faults (a test may script
            # one child workflow of a team run).
            key = next((k for k in (run_id, workflow_id) if k and k in self._runs and (
                self._runs[k].script is not None or self._runs[k].faults)),
                run_id or workflow_id or "default")
            run = self._get(key, controlled=False)
            index, run.total_calls = run.total_calls, run.total_calls + 1
            fault = next((f for f in run.faults if f.agent in (None, agent)), None)
            if fault is not None:
                run.faults.remove(fault)
            if run.script is None and self._default is not None:
                run.script = {a: list(s) for a, s in self._default.items()}
            plan = Plan(agent, workflow_id, step, key, index, fault)
            if run.script is None or (fault is not None and not fault.answers):
                return plan
            steps, cursor = run.script.get(agent, []), run.cursor.get(agent, 0)
            if cursor >= len(steps):
                return replace(plan, error=("script_exhausted", (
                    f"script exhausted: run {key!r}, agent {agent!r} made call {cursor + 1} "
                    f"but {len(steps)} call(s) were scripted (scripted agents: "
                    f"{sorted(run.script)})")))
            run.cursor[agent] = cursor + 1
            return replace(plan, step=steps[cursor], step_index=cursor)

    def record(self, plan: Plan, entry: dict[str, Any]) -> None:
        with self._lock:
            run = self._runs.get(plan.run_key)
            if run is not None and len(run.calls) < _MAX_CALLS:
                run.calls.append({"agent": plan.agent, "step_index": plan.step_index,
                                  "workflow_id": plan.workflow_id, "step": plan.step_header,
                                  "call_index": plan.call_index, "at": time.time(), **entry})

    def _get(self, key: str, *, controlled: bool) -> _Run:
        if key not in self._runs:  # beyond a bound, forget the oldest runs seen only by calls
            self._runs[key] = _Run(controlled=controlled)
            stale = [k for k, r in self._runs.items() if not r.controlled and k != key]
            for victim in stale[: len(self._runs) - _MAX_RUNS]:
                del self._runs[victim]
        run = self._runs[key]
        run.controlled = run.controlled or controlled
        self._runs.move_to_end(key)
        return run
