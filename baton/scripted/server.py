"""The scripted model server: OpenAI- and Anthropic-compatible HTTP on loopback (Starlette).

Baton has one model code path (DESIGN.md decision 2): the demo and every test run the same
httpx provider adapters that talk to OpenAI, pointed at this server. Each model call is, in
order: attributed to a run/agent by the ``X-Baton-*`` headers; given the next queued fault and
the next script step of that run (if any); delayed by the configured latency; then answered
with the fault, the scripted step, or the heuristic model (``brain.think``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import uvicorn
import yaml
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from baton.scripted import brain
from baton.scripted.anthropic_api import parse_anthropic, render_anthropic
from baton.scripted.openai_api import parse_openai, render_openai
from baton.scripted.script import (
    Attribution,
    Fault,
    Plan,
    ScriptStep,
    ScriptStore,
    parse_script,
)
from baton.scripted.wire import (
    CREATED,
    Answer,
    AnswerCall,
    Api,
    ChatQuery,
    WireError,
    error_body,
    truncate,
)

__all__ = ["DEFAULT_MODEL", "ServerConfig", "create_app", "load_script_file", "serve"]

DEFAULT_MODEL = "baton-scripted"
MALFORMED_BODY = '{"id": "chatcmpl-malformed", "choices": [{"message": '
_POLL_S = 0.05


@dataclass(frozen=True)
class ServerConfig:
    """``latency_s`` delays every model call; ``script`` applies to runs without their own."""

    latency_s: float = 0.0
    script: dict[str, list[ScriptStep]] | None = None
    models: tuple[str, ...] = (DEFAULT_MODEL,)


def load_script_file(path: str | Path) -> dict[str, list[ScriptStep]]:
    """Read a server-wide script, YAML or JSON: ``{"agents": {"<agent>": [step, ...]}}``."""
    document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(document, dict) or "agents" not in document:
        raise ValueError(f"{path}: a script file holds {{'agents': {{agent: [steps]}}}}")
    return parse_script(document["agents"])


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def _attribution(request: Request) -> Attribution:
    h = request.headers
    return Attribution(
        h.get("x-baton-run-id") or None,
        h.get("x-baton-workflow-id") or None,
        h.get("x-baton-agent") or "default",
        h.get("x-baton-step"),
    )


async def _sleep(request: Request, seconds: float) -> bool:
    """Sleep, but stop early when the client has gone (so a hang never outlives its caller and
    shutdown is not held up). Returns False if the client disconnected."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        await asyncio.sleep(min(left, _POLL_S))
        if await request.is_disconnected():
            return False
    return True


def _error(
    api: Api,
    status: int,
    message: str,
    kind: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(api, status, message, kind), status, headers=headers)


def _step_answer(step: ScriptStep) -> Answer:
    if step.tool_calls is not None:
        calls = tuple(
            AnswerCall(c.name, json.dumps(c.arguments), c.id or "") for c in step.tool_calls
        )
        return Answer(step.content, calls)
    if step.raw_arguments is not None:
        return Answer(step.content, (AnswerCall(step.name or "", step.raw_arguments),))
    if step.kind == "json":
        return Answer(json.dumps(step.json_value))
    return Answer(step.content)


def _expectation_error(step: ScriptStep, query: ChatQuery) -> str | None:
    expect = step.expect
    if expect is None:
        return None
    last = query.messages[-1].content if query.messages else ""
    if expect.last_message_contains is not None and expect.last_message_contains not in last:
        return (
            f"expected the last message to contain {expect.last_message_contains!r}, got {last!r}"
        )
    missing = sorted(set(expect.tools_include) - {t.name for t in query.tools})
    if missing:
        return f"expected tools {missing} in the request, got {[t.name for t in query.tools]}"
    return None


def _fault_response(api: Api, fault: Fault) -> Response:
    if fault.fault == "malformed":
        return Response(MALFORMED_BODY, 200, media_type="application/json")
    status = 504 if fault.fault == "hang" else int(fault.fault)
    headers: dict[str, str] = {}
    retry_after = (
        fault.retry_after if fault.retry_after is not None else (1.0 if status == 429 else None)
    )
    if retry_after is not None:
        # Retry-After in seconds (fractional when needed), plus OpenAI's millisecond variant.
        headers["Retry-After"] = f"{retry_after:g}"
        headers["retry-after-ms"] = str(round(retry_after * 1000))
    message = fault.message or (
        f"injected fault: request hung for {fault.seconds:g}s"
        if fault.fault == "hang"
        else f"injected fault: HTTP {status}"
    )
    return _error(api, status, message, headers=headers)


class _Handler:
    def __init__(self, config: ServerConfig, store: ScriptStore) -> None:
        self.config, self.store = config, store

    async def openai(self, request: Request) -> Response:
        return await self._call(request, "openai")

    async def anthropic(self, request: Request) -> Response:
        return await self._call(request, "anthropic")

    async def _call(self, request: Request, api: Api) -> Response:
        try:
            body = await request.json()
            query = parse_openai(body) if api == "openai" else parse_anthropic(body)
        except (ValueError, WireError) as exc:
            return _error(api, 400, f"invalid request: {exc}")
        who = _attribution(request)
        plan = self.store.plan(who)
        step = plan.step
        fault = plan.fault or (step.as_fault() if step else None)
        delay = self.config.latency_s + (step.latency_s if step else 0.0)
        if fault is not None and fault.fault in ("latency", "hang"):
            delay += fault.seconds
        connected = await _sleep(request, delay) if delay > 0 else True
        entry: dict[str, Any] = {
            "api": api,
            "model": query.model,
            "fault": None,
            "kind": step.kind if step else "heuristic",
            "tool_calls": [],
        }
        if not connected:
            entry["disconnected"] = True
        if fault is not None and fault.fault not in ("ok", "latency", "invalid_tool_args"):
            entry.update(kind="fault", fault=fault.fault)
            return self._done(plan, who, entry, _fault_response(api, fault))
        if plan.error is not None:
            entry["kind"] = plan.error[0]
            return self._done(plan, who, entry, _error(api, 400, plan.error[1], plan.error[0]))
        problem = _expectation_error(step, query) if step else None
        if problem is not None:
            entry["kind"] = "script_expectation_failed"
            message = (
                f"run {plan.run_key!r}, agent {who.agent!r}, step {plan.step_index}: {problem}"
            )
            return self._done(plan, who, entry, _error(api, 400, message, entry["kind"]))
        if fault is not None and fault.fault == "latency":
            entry["fault"] = fault.fault
        answer = _step_answer(step) if step else brain.think(query)
        if fault is not None and fault.fault == "invalid_tool_args" and answer.tool_calls:
            broken = replace(answer.tool_calls[0], arguments='{"oops": ')
            answer = replace(answer, tool_calls=(broken, *answer.tool_calls[1:]))
            entry["fault"] = fault.fault
        answer = truncate(answer, query.max_tokens)
        seed = (
            f"{plan.run_key}|{who.agent}|step{plan.step_index}"
            if step
            else _digest(plan.run_key, who.agent, json.dumps(body, sort_keys=True))
        )
        prefix = "call_" if api == "openai" else "toolu_"
        calls = tuple(
            replace(c, id=c.id or prefix + _digest(seed, str(i)))
            for i, c in enumerate(answer.tool_calls)
        )
        answer = replace(answer, tool_calls=calls)
        entry["tool_calls"] = [c.name for c in calls]
        render = render_openai if api == "openai" else render_anthropic
        return self._done(plan, who, entry, JSONResponse(render(query, answer, _digest(seed))))

    def _done(
        self, plan: Plan, who: Attribution, entry: dict[str, Any], response: Response
    ) -> Response:
        self.store.record(plan, who, {**entry, "status": response.status_code})
        return response


def create_app(config: ServerConfig | None = None) -> Starlette:
    """The ASGI app. The store lives on ``app.state.store`` (one per app, so two servers in one
    process never share scripts)."""
    config = config or ServerConfig()
    store = ScriptStore(config.script)
    handler = _Handler(config, store)

    async def models(_: Request) -> Response:
        data = [
            {"id": m, "object": "model", "created": CREATED, "owned_by": "baton"}
            for m in config.models
        ]
        return JSONResponse({"object": "list", "data": data})

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def put_script(request: Request) -> Response:
        try:
            body = await request.json()
            agents = parse_script(body.get("agents") if isinstance(body, dict) else None)
        except (ValueError, ValidationError) as exc:
            return JSONResponse({"error": {"type": "invalid_script", "message": str(exc)}}, 422)
        store.set_script(request.path_params["run_id"], agents)
        return JSONResponse({"ok": True, "agents": {a: len(s) for a, s in agents.items()}})

    async def put_faults(request: Request) -> Response:
        try:
            body = await request.json()
            raw = body.get("faults") if isinstance(body, dict) else None
            if not isinstance(raw, list):
                raise ValueError("'faults' must be a list")
            faults = [Fault.model_validate(f) for f in raw]
        except (ValueError, ValidationError) as exc:
            return JSONResponse({"error": {"type": "invalid_faults", "message": str(exc)}}, 422)
        store.set_faults(request.path_params["run_id"], faults)
        return JSONResponse({"ok": True, "faults": len(faults)})

    async def run_state(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        if request.method == "DELETE":
            return JSONResponse({"ok": True, "existed": store.clear(run_id)})
        return JSONResponse(store.state(run_id))

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        api: Api = "anthropic" if request.url.path.endswith("/messages") else "openai"
        return _error(api, status, f"{request.method} {request.url.path}: {exc}")

    routes = [
        Route("/v1/chat/completions", handler.openai, methods=["POST"]),
        Route("/v1/messages", handler.anthropic, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/_scripted/runs/{run_id}/script", put_script, methods=["PUT"]),
        Route("/_scripted/runs/{run_id}/faults", put_faults, methods=["PUT"]),
        Route("/_scripted/runs/{run_id}", run_state, methods=["GET", "DELETE"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: not_found})
    app.state.store = store
    app.state.config = config
    return app


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    script_file: str | Path | None = None,
    latency_s: float = 0.0,
    log_level: str = "warning",
) -> None:
    """Run the server until interrupted (the ``baton model-server`` command)."""
    script = load_script_file(script_file) if script_file is not None else None
    app = create_app(ServerConfig(latency_s=latency_s, script=script))
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=2)
