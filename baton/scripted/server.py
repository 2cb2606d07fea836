"""The scripted model server, OpenAI- and Anthropic-compatible HTTP on loopback: the demo and every
test run the provider adapters real providers get. A call, attributed to a run and an agent by the
``X-Baton-*`` headers, takes the run's next fault and its agent's next script step, waits the
latency, and is answered with the fault, the step or ``brain.think``; embeddings are hashed."""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from baton.scripted import script, wire
from baton.scripted.brain import think
from baton.scripted.reading import embed
from baton.scripted.script import load_script_file

__all__ = ["DEFAULT_MODEL", "ServerConfig", "create_app", "load_script_file", "serve"]

DEFAULT_MODEL = "baton-scripted"
MALFORMED_BODY = '{"id": "chatcmpl-malformed", "choices": [{"message": '


@dataclass(frozen=True)
class ServerConfig:
    """``latency_s`` delays every model call; ``script`` applies to runs without their own."""

    latency_s: float = 0.0
    script: dict[str, list[script.ScriptStep]] | None = None


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def _error(api: wire.Api, status: int, message: str, kind: str | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(wire.error_body(api, status, message, kind), status, headers=headers)


def _fault_response(api: wire.Api, fault: script.Fault) -> Response:
    if fault.fault == "malformed":
        return Response(MALFORMED_BODY, 200, media_type="application/json")
    status = 504 if fault.fault == "hang" else int(fault.fault)
    retry = fault.retry_after if fault.retry_after is not None else (
        1.0 if status == 429 and not fault.headers else None)
    # Retry-After in (possibly fractional) seconds, plus OpenAI's millisecond variant.
    headers = {} if retry is None else {"Retry-After": f"{retry:g}",
                                        "retry-after-ms": str(round(retry * 1000))}
    said = f"request hung for {fault.seconds:g}s" if fault.fault == "hang" else f"HTTP {status}"
    body = fault.body if fault.body is not None or status == 200 else wire.error_body(
        api, status, fault.message or f"injected fault: {said}")
    return JSONResponse(body, status, headers={**headers, **fault.headers})


def _scripted(step: script.ScriptStep, query: wire.ChatQuery) -> wire.Answer | str:
    """The step's answer, or what the request lacks that the step's ``expect`` asks for."""
    expect, last = step.expect, query.messages[-1].content if query.messages else ""
    names, wanted = [t.name for t in query.tools], expect.last_message_contains if expect else None
    if wanted is not None and wanted not in last:
        return f"expected the last message to contain {wanted!r}, got {last!r}"
    if expect and (absent := [text for text in expect.messages_contain
                              if not any(text in m.content for m in query.messages)]):
        return f"expected the request's messages to contain {absent}"
    if expect and (missing := sorted(set(expect.tools_include) - set(names))):
        return f"expected tools {missing} in the request, got {names}"
    if step.tool_calls is not None:
        calls = (wire.Call(c.name, json.dumps(c.arguments), c.id or "") for c in step.tool_calls)
        return wire.Answer(step.content, tuple(calls))
    if step.raw_arguments is not None:
        return wire.Answer(step.content, (wire.Call(step.name or "", step.raw_arguments),))
    return wire.Answer(json.dumps(step.json_value) if step.kind == "json" else step.content)


async def _answer(request: Request, query: wire.ChatQuery, *, body: Any, plan: script.Plan,
                  entry: dict[str, Any], latency_s: float, cache: dict[str, float]) -> Response:
    step, api = plan.step, query.api
    fault = plan.fault or (script.Fault(**step.model_dump(include={
        "fault", "retry_after", "seconds", "message", "body", "headers"})) if step and step.fault
        else None)
    delay = latency_s + (step.latency_s if step else 0.0) + (
        fault.seconds if fault is not None and fault.fault in ("latency", "hang") else 0.0)
    deadline = asyncio.get_running_loop().time() + delay
    # Sleep in slices and stop when the client has gone: a hang never outlives its caller or
    # holds up shutdown.
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        await asyncio.sleep(min(left, 0.05))
        if await request.is_disconnected():
            entry["disconnected"] = True
            break
    if fault is not None and not fault.answers:
        entry.update(kind="fault", fault=fault.fault)
        return _fault_response(api, fault)
    if plan.error is not None:  # the agent's script is exhausted
        entry["kind"] = plan.error[0]
        return _error(api, 400, plan.error[1], plan.error[0])
    answer = _scripted(step, query) if step else think(query)
    if isinstance(answer, str):
        entry["kind"] = "script_expectation_failed"
        return _error(api, 400, f"run {plan.run_key!r}, agent {plan.agent!r}, step "
                      f"{plan.step_index}: {answer}", entry["kind"])
    if fault is not None and fault.fault == "latency":
        entry["fault"] = fault.fault
    if fault is not None and fault.fault == "invalid_tool_args" and answer.tool_calls:
        broken = replace(answer.tool_calls[0], arguments='{"oops": ')
        answer = replace(answer, tool_calls=(broken, *answer.tool_calls[1:]))
        entry["fault"] = fault.fault
    # Ids depend only on the run, the agent and the request: a rerun gives identical bytes.
    seed = (f"{plan.run_key}|{plan.agent}|step{plan.step_index}" if step else
            _digest(plan.run_key, plan.agent, json.dumps(body, sort_keys=True)))
    prefix = "call_" if api == "openai" else "toolu_"
    calls = tuple(replace(c, id=c.id or prefix + _digest(seed, str(i)))
                  for i, c in enumerate(answer.tool_calls))
    entry["tool_calls"] = [c.name for c in calls]
    tokens = wire.prompt_tokens(query, cache, asyncio.get_running_loop().time())
    answer = replace(answer, tool_calls=calls)
    return JSONResponse(wire.render(query, answer, _digest(seed), tokens))


def create_app(config: ServerConfig | None = None) -> Starlette:
    """The ASGI app, with its own store (``app.state.store``): two servers never share scripts."""
    config = config or ServerConfig()
    store, cache = script.ScriptStore(config.script), dict[str, float]()  # cache: prompt_tokens

    async def model_call(request: Request) -> Response:
        api: wire.Api = "anthropic" if request.url.path.endswith("/messages") else "openai"
        try:
            body = await request.json()
            query = wire.parse(api, body)
        except ValueError as exc:  # not JSON, or not a valid request of that API
            return _error(api, 400, f"invalid request: {exc}")
        h = request.headers
        plan = store.plan(h.get("x-baton-run-id") or None, h.get("x-baton-workflow-id") or None,
                          h.get("x-baton-agent") or "default", h.get("x-baton-step"))
        kind = plan.step.kind if plan.step else "heuristic"
        entry: dict[str, Any] = {"api": api, "model": query.model, "fault": None, "kind": kind,
                                 "tool_calls": []}
        response = await _answer(request, query, body=body, plan=plan, entry=entry,
                                 latency_s=config.latency_s, cache=cache)
        rid = _digest(plan.run_key, str(plan.call_index))  # each answer names its call, as theirs
        response.headers.setdefault(wire.SHAPES["request_id_header"][api], f"req_{rid}")
        store.record(plan, {**entry, "status": response.status_code})
        return response

    async def control(request: Request) -> Response:
        """GET or DELETE a run's state, PUT its script or its fault queue."""
        run_id, what = request.path_params["run_id"], request.url.path.rsplit("/", 1)[-1]
        if request.method != "PUT":
            return JSONResponse(store.state(run_id) if request.method == "GET" else
                                {"ok": True, "existed": store.clear(run_id)})
        try:
            body = await request.json()
            raw = body.get("agents" if what == "script" else "faults") if isinstance(
                body, dict) else None
            if what == "script":
                store.set_script(run_id, agents := script.parse_script(raw))
                return JSONResponse({"ok": True, "agents": {a: len(s) for a, s in agents.items()}})
            if not isinstance(raw, list):
                raise ValueError("'faults' must be a list")
            store.set_faults(run_id, faults := [script.Fault.model_validate(f) for f in raw])
            return JSONResponse({"ok": True, "faults": len(faults)})
        except (ValueError, ValidationError) as exc:
            return JSONResponse({"error": {"type": f"invalid_{what}", "message": str(exc)}}, 422)

    async def info(request: Request) -> Response:  # /healthz and /v1/models
        model = {"id": DEFAULT_MODEL, "object": "model", "created": wire.CREATED}
        return JSONResponse({"status": "ok"} if request.url.path == "/healthz" else {
            "object": "list", "data": [{**model, "owned_by": "baton"}]})

    async def embeddings(request: Request) -> Response:  # OpenAI's /v1/embeddings, deterministic
        body = await request.json()
        texts = [body["input"]] if isinstance(body.get("input"), str) else body.get("input") or []
        return JSONResponse({"object": "list", "model": body.get("model"), "data": [{
            "object": "embedding", "index": i, "embedding": embed(str(t))} for i, t in enumerate(
                texts)], "usage": {"prompt_tokens": 0, "total_tokens": 0}})

    async def not_found(request: Request, exc: Exception) -> Response:
        api: wire.Api = "anthropic" if request.url.path.endswith("/messages") else "openai"
        return _error(api, getattr(exc, "status_code", 500), f"{request.method} "
                      f"{request.url.path}: {exc}")

    app = Starlette(routes=[
        Route("/v1/chat/completions", model_call, methods=["POST"]),
        Route("/v1/messages", model_call, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/v1/models", info, methods=["GET"]), Route("/healthz", info, methods=["GET"]),
        Route("/_scripted/runs/{run_id}/script", control, methods=["PUT"]),
        Route("/_scripted/runs/{run_id}/faults", control, methods=["PUT"]),
        Route("/_scripted/runs/{run_id}", control, methods=["GET", "DELETE"]),
    ], exception_handlers={HTTPException: not_found})
    app.state.store = store
    return app


def serve(host: str = "127.0.0.1", port: int = 8765, *, script_file: str | Path | None = None,
          latency_s: float = 0.0, log_level: str = "warning") -> None:
    """Run the server until interrupted (the ``baton model-server`` command)."""
    default = load_script_file(script_file) if script_file is not None else None
    app = create_app(ServerConfig(latency_s=latency_s, script=default))
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=2)
