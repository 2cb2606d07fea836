"""The scripted model server over real loopback HTTP: wire shapes, heuristics, scripts, faults.

Every test talks HTTP to a running server (the session ``scripted`` fixture, or its own
``ScriptedServer`` when it needs server-wide settings), exactly as the provider adapters do.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from pydantic import BaseModel, ConfigDict, Field

from baton.scripted.testing import ScriptedServer

TASK = "Please look up order A1001 and refund it, it arrived broken"
LOOKUP_RESULT = {"order_id": "A1001", "item": "Blue kettle", "amount": 42.0, "status": "delivered"}
REFUND_RESULT = {"refund_id": "R-7Q2", "order_id": "A1001", "amount": 42.0, "currency": "EUR",
                 "status": "queued"}


def _fn(name: str, description: str, props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    params = {"type": "object", "properties": props, "required": required}
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": params},
    }


TOOLS = [
    _fn("lookup_order", "Look up an order by id", {"order_id": {"type": "string"}}, ["order_id"]),
    _fn(
        "issue_refund",
        "Issue a refund for an order",
        {
            "order_id": {"type": "string"},
            "amount": {"type": "number"},
            "reason": {"type": "string"},
        },
        ["order_id", "amount", "reason"],
    ),
    _fn(
        "search_help_center",
        "Search help center articles",
        {"query": {"type": "string"}},
        ["query"],
    ),
]


class LookupArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    order_id: str


class RefundArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    order_id: str
    amount: float
    reason: str


class Customer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    email: str


class Ticket(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str
    category: Literal["billing", "shipping", "technical"]
    priority: int = Field(ge=1, le=5)
    refund_requested: bool
    tags: list[str] = Field(min_length=2)
    customer: Customer
    summary: str
    note: str | None = None


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0, trust_env=False) as client:
        yield client


@pytest.fixture
def run_id(scripted: ScriptedServer) -> Iterator[str]:
    rid = f"run-{uuid.uuid4().hex[:8]}"
    yield rid
    scripted.clear(rid)


def chat(
    http: httpx.Client,
    server: ScriptedServer,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    payload = {"model": "baton-scripted", **body}
    return http.post(f"{server.base_url}/chat/completions", json=payload, headers=headers or {})


def messages(
    http: httpx.Client,
    server: ScriptedServer,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    payload = {"model": "claude-scripted", "max_tokens": 512, **body}
    return http.post(f"{server.base_url}/messages", json=payload, headers=headers or {})


def who(run: str, agent: str = "support", **extra: str) -> dict[str, str]:
    return {"X-Baton-Run-Id": run, "X-Baton-Agent": agent, **extra}


def user(text: str) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": "You are a support agent."},
        {"role": "user", "content": text},
    ]


def only_call(response: httpx.Response) -> tuple[str, dict[str, Any]]:
    assert response.status_code == 200, response.text
    calls = response.json()["choices"][0]["message"]["tool_calls"]
    assert len(calls) == 1
    return calls[0]["function"]["name"], json.loads(calls[0]["function"]["arguments"])


def answer_turn(
    conversation: list[dict[str, Any]], response: httpx.Response, results: dict[str, Any]
) -> None:
    """Append the assistant message and a tool result for each of its calls (OpenAI format)."""
    message = response.json()["choices"][0]["message"]
    conversation.append(
        {
            "role": "assistant",
            "content": message["content"],
            "tool_calls": message.get("tool_calls"),
        }
    )
    for call in message.get("tool_calls") or []:
        conversation.append(
            {
                "role": "tool",
                "tool_call_id": call["id"],
                "content": json.dumps(results[call["function"]["name"]]),
            }
        )


# ----------------------------------------------------------------------------- wire shapes


def test_openai_text_response_has_exact_shape(http: httpx.Client, scripted: ScriptedServer) -> None:
    response = chat(
        http, scripted, {"messages": user("What are your opening hours?"), "model": "gpt-4o-mini"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"id", "object", "created", "model", "choices", "usage"}
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert body["model"] == "gpt-4o-mini"
    [choice] = body["choices"]
    assert set(choice) == {"index", "message", "finish_reason", "logprobs"}
    assert (choice["index"], choice["finish_reason"], choice["logprobs"]) == (0, "stop", None)
    message = choice["message"]
    assert set(message) == {"role", "content", "refusal"}
    assert message["role"] == "assistant"
    assert message["refusal"] is None
    assert isinstance(message["content"], str)
    assert "opening hours" in message["content"].lower() or "hours" in message["content"]
    assert message["content"] != "What are your opening hours?"
    usage = body["usage"]
    assert set(usage) == {"prompt_tokens", "completion_tokens", "total_tokens",
                          "prompt_tokens_details"}
    assert usage["prompt_tokens_details"] == {"cached_tokens": 0}  # a short prompt is not cached
    assert response.headers["x-request-id"].startswith("req_")
    assert usage["prompt_tokens"] > 0
    assert usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_openai_tool_call_shape(http: httpx.Client, scripted: ScriptedServer) -> None:
    body = chat(http, scripted, {"messages": user(TASK), "tools": TOOLS}).json()
    [choice] = body["choices"]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert set(message) == {"role", "content", "refusal", "tool_calls"}
    assert message["content"] is None
    [call] = message["tool_calls"]
    assert set(call) == {"id", "type", "function"}
    assert call["id"].startswith("call_")
    assert call["type"] == "function"
    assert set(call["function"]) == {"name", "arguments"}
    assert isinstance(call["function"]["arguments"], str)


def test_anthropic_shape_and_refund_flow(http: httpx.Client, scripted: ScriptedServer) -> None:
    tools = [
        {
            "name": t["function"]["name"],
            "description": t["function"]["description"],
            "input_schema": t["function"]["parameters"],
        }
        for t in TOOLS
    ]
    convo: list[dict[str, Any]] = [{"role": "user", "content": [{"type": "text", "text": TASK}]}]
    request = {"system": "You are a support agent.", "messages": convo, "tools": tools}
    first = messages(http, scripted, request).json()
    assert set(first) == {
        "id",
        "type",
        "role",
        "model",
        "content",
        "stop_reason",
        "stop_sequence",
        "usage",
    }
    assert first["id"].startswith("msg_")
    assert (first["type"], first["role"], first["model"]) == (
        "message",
        "assistant",
        "claude-scripted",
    )
    assert (first["stop_reason"], first["stop_sequence"]) == ("tool_use", None)
    assert set(first["usage"]) == {"input_tokens", "output_tokens", "cache_read_input_tokens",
                                   "cache_creation_input_tokens"}
    assert first["usage"]["input_tokens"] > 0
    [block] = first["content"]
    assert set(block) == {"type", "id", "name", "input"}
    assert block["type"] == "tool_use"
    assert block["id"].startswith("toolu_")
    assert (block["name"], block["input"]) == ("lookup_order", {"order_id": "A1001"})

    for result in (LOOKUP_RESULT, REFUND_RESULT):
        use = next(b for b in first["content"] if b["type"] == "tool_use")
        convo.append({"role": "assistant", "content": first["content"]})
        convo.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": use["id"], "content": json.dumps(result)}
                ],
            }
        )
        first = messages(http, scripted, request).json()
        if result is LOOKUP_RESULT:
            assert first["content"][-1]["name"] == "issue_refund"
            RefundArgs.model_validate(first["content"][-1]["input"])
    assert first["stop_reason"] == "end_turn"
    [text] = first["content"]
    assert text["type"] == "text"
    assert "A1001" in text["text"]
    assert "R-7Q2" in text["text"]


# ----------------------------------------------------------------------------- heuristic mode


def test_heuristic_looks_up_refunds_then_answers(
    http: httpx.Client, scripted: ScriptedServer
) -> None:
    convo = user(TASK)
    first = chat(http, scripted, {"messages": convo, "tools": TOOLS})
    name, args = only_call(first)
    assert (name, args) == ("lookup_order", {"order_id": "A1001"})
    LookupArgs.model_validate(args)

    answer_turn(convo, first, {"lookup_order": LOOKUP_RESULT})
    second = chat(http, scripted, {"messages": convo, "tools": TOOLS})
    name, args = only_call(second)
    assert name == "issue_refund"
    refund = RefundArgs.model_validate(args)
    assert (refund.order_id, refund.amount) == ("A1001", 42.0)
    assert "broken" in refund.reason

    answer_turn(convo, second, {"issue_refund": REFUND_RESULT})
    final = chat(http, scripted, {"messages": convo, "tools": TOOLS}).json()
    message = final["choices"][0]["message"]
    assert final["choices"][0]["finish_reason"] == "stop"
    assert "tool_calls" not in message
    text = message["content"]
    assert "A1001" in text
    assert "refund" in text.lower()
    assert "R-7Q2" in text
    assert "42.00 EUR" in text  # money in the record's own currency
    assert "$" not in text  # and no sign the data does not have
    assert "search" not in text.lower()  # the irrelevant help-center tool was never used


def test_heuristic_looks_up_every_mentioned_order(
    http: httpx.Client, scripted: ScriptedServer
) -> None:
    convo = user("Look up orders A1001 and B2002")
    tools = TOOLS[:1]
    first = chat(http, scripted, {"messages": convo, "tools": tools})
    assert only_call(first) == ("lookup_order", {"order_id": "A1001"})
    answer_turn(convo, first, {"lookup_order": LOOKUP_RESULT})
    second = chat(http, scripted, {"messages": convo, "tools": tools})
    assert only_call(second) == ("lookup_order", {"order_id": "B2002"})
    answer_turn(convo, second, {"lookup_order": {**LOOKUP_RESULT, "order_id": "B2002"}})
    final = chat(http, scripted, {"messages": convo, "tools": tools}).json()
    assert final["choices"][0]["finish_reason"] == "stop"


def test_heuristic_retries_invalid_arguments_once_then_moves_on(
    http: httpx.Client, scripted: ScriptedServer
) -> None:
    convo = user("Look up order A1001")
    bad = {
        "id": "call_x1",
        "type": "function",
        "function": {"name": "lookup_order", "arguments": "{not json"},
    }
    convo += [
        {"role": "assistant", "content": None, "tool_calls": [bad]},
        {
            "role": "tool",
            "tool_call_id": "call_x1",
            "content": "Error: invalid arguments: not valid JSON",
        },
    ]
    retry = chat(http, scripted, {"messages": convo, "tools": TOOLS[:1]})
    assert only_call(retry) == ("lookup_order", {"order_id": "A1001"})

    message = retry.json()["choices"][0]["message"]
    convo += [
        {"role": "assistant", "content": None, "tool_calls": message["tool_calls"]},
        {
            "role": "tool",
            "tool_call_id": message["tool_calls"][0]["id"],
            "content": "Error: invalid arguments: order_id: unknown order",
        },
    ]
    final = chat(http, scripted, {"messages": convo, "tools": TOOLS[:1]}).json()
    assert final["choices"][0]["finish_reason"] == "stop"
    assert "failed" in final["choices"][0]["message"]["content"]


def test_heuristic_does_not_call_irrelevant_tools(
    http: httpx.Client, scripted: ScriptedServer
) -> None:
    body = chat(
        http, scripted, {"messages": user("Tell me a joke about cats"), "tools": TOOLS}
    ).json()
    assert body["choices"][0]["finish_reason"] == "stop"
    assert "cats" in body["choices"][0]["message"]["content"]


def test_tool_choice_none_and_forced(http: httpx.Client, scripted: ScriptedServer) -> None:
    none = chat(http, scripted, {"messages": user(TASK), "tools": TOOLS, "tool_choice": "none"})
    assert none.json()["choices"][0]["finish_reason"] == "stop"
    forced = chat(
        http,
        scripted,
        {
            "messages": user(TASK),
            "tools": TOOLS,
            "tool_choice": {"type": "function", "function": {"name": "search_help_center"}},
        },
    )
    name, args = only_call(forced)
    assert name == "search_help_center"
    assert "refund" in args["query"]


def test_transfer_goes_to_the_best_described_agent(
    http: httpx.Client, scripted: ScriptedServer
) -> None:
    tools = [
        _fn("transfer_to_billing", "Billing specialist: refunds, payments and invoices", {}, []),
        _fn("transfer_to_tech", "Technical support: login problems, app crashes and bugs", {}, []),
    ]
    money = chat(
        http, scripted, {"messages": user("I was charged twice, I want a refund"), "tools": tools}
    )
    assert only_call(money) == ("transfer_to_billing", {})
    crash = chat(
        http, scripted, {"messages": user("The app crashes every time I log in"), "tools": tools}
    )
    assert only_call(crash) == ("transfer_to_tech", {})


def test_json_schema_output_validates_and_uses_the_task(
    http: httpx.Client, scripted: ScriptedServer
) -> None:
    task = "Order A1001 arrived broken, this is a shipping problem. Email me at jo@example.com"
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "ticket", "schema": Ticket.model_json_schema(), "strict": True},
    }
    body = chat(http, scripted, {"messages": user(task), "response_format": response_format})
    content = body.json()["choices"][0]["message"]["content"]
    ticket = Ticket.model_validate_json(content)
    assert ticket.order_id == "A1001"
    assert ticket.category == "shipping"
    assert ticket.customer.email == "jo@example.com"
    assert len(ticket.tags) >= 2


def test_json_schema_output_after_tools_uses_results(
    http: httpx.Client, scripted: ScriptedServer
) -> None:
    class Outcome(BaseModel):
        order_id: str
        amount: float
        status: Literal["queued", "done", "failed"]
        summary: str

    convo = user(TASK)
    schema = {
        "type": "json_schema",
        "json_schema": {"name": "outcome", "schema": Outcome.model_json_schema()},
    }
    for results in ({"lookup_order": LOOKUP_RESULT}, {"issue_refund": REFUND_RESULT}):
        step = chat(http, scripted, {"messages": convo, "tools": TOOLS, "response_format": schema})
        answer_turn(convo, step, results)
    final = chat(http, scripted, {"messages": convo, "tools": TOOLS, "response_format": schema})
    outcome = Outcome.model_validate_json(final.json()["choices"][0]["message"]["content"])
    assert (outcome.order_id, outcome.amount, outcome.status) == ("A1001", 42.0, "queued")
    assert "R-7Q2" in outcome.summary


def test_json_answer_is_fixed_after_validation_feedback(
    http: httpx.Client, scripted: ScriptedServer
) -> None:
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "ticket", "schema": Ticket.model_json_schema()},
    }
    convo = [
        *user("Order A1001 is a billing issue"),
        {"role": "assistant", "content": '{"order_id": 7}'},
        {
            "role": "user",
            "content": "Your answer failed validation: category is required, "
            "order_id must be a string. Please fix it.",
        },
    ]
    body = chat(http, scripted, {"messages": convo, "response_format": response_format}).json()
    ticket = Ticket.model_validate_json(body["choices"][0]["message"]["content"])
    assert (ticket.order_id, ticket.category) == ("A1001", "billing")


def test_json_object_mode_returns_an_object(http: httpx.Client, scripted: ScriptedServer) -> None:
    body = chat(
        http,
        scripted,
        {
            "messages": user("Summarise our refund policy"),
            "response_format": {"type": "json_object"},
        },
    ).json()
    parsed = json.loads(body["choices"][0]["message"]["content"])
    assert isinstance(parsed, dict)
    assert parsed["answer"]


def test_max_tokens_truncates_with_length(http: httpx.Client, scripted: ScriptedServer) -> None:
    body = chat(
        http, scripted, {"messages": user("Explain the refund policy in detail"), "max_tokens": 3}
    ).json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert len(body["choices"][0]["message"]["content"]) <= 12


def test_same_request_gives_the_same_bytes(http: httpx.Client, scripted: ScriptedServer) -> None:
    request = {"messages": user(TASK), "tools": TOOLS}
    first = chat(http, scripted, request, who("det-run"))
    second = chat(http, scripted, request, who("det-run"))
    assert first.content == second.content
    other_run = chat(http, scripted, request, who("det-other"))
    assert (
        other_run.json()["choices"][0]["message"]["tool_calls"][0]["id"]
        != (first.json()["choices"][0]["message"]["tool_calls"][0]["id"])
    )
    scripted.clear("det-run")
    scripted.clear("det-other")


# ----------------------------------------------------------------------------- script mode


def test_script_steps_are_consumed_in_order(
    http: httpx.Client, scripted: ScriptedServer, run_id: str
) -> None:
    scripted.set_script(
        run_id,
        {
            "support": [
                {
                    "tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "Z9"}}],
                    "content": "checking",
                },
                {"raw_arguments": "{oops", "name": "issue_refund"},
                {"json": {"ok": True, "n": 2}},
                {"content": "all done"},
            ],
            "auditor": [{"content": "audited"}],
        },
    )
    assert scripted.leftovers(run_id) == {"support": 4, "auditor": 1}
    body = {"messages": user("anything"), "tools": TOOLS}
    first = chat(http, scripted, body, who(run_id)).json()["choices"][0]
    assert first["message"]["content"] == "checking"
    assert first["finish_reason"] == "tool_calls"
    [call] = first["message"]["tool_calls"]
    assert call["id"].startswith("call_")
    assert json.loads(call["function"]["arguments"]) == {"order_id": "Z9"}

    audit = chat(http, scripted, body, who(run_id, "auditor")).json()
    assert audit["choices"][0]["message"]["content"] == "audited"
    raw = chat(http, scripted, body, who(run_id)).json()["choices"][0]["message"]
    assert raw["tool_calls"][0]["function"] == {"name": "issue_refund", "arguments": "{oops"}
    as_json = chat(http, scripted, body, who(run_id)).json()["choices"][0]["message"]
    assert json.loads(as_json["content"]) == {"ok": True, "n": 2}
    assert scripted.leftovers(run_id) == {"support": 1}
    with pytest.raises(AssertionError, match="support"):
        scripted.assert_script_consumed(run_id)
    last = chat(http, scripted, body, who(run_id)).json()["choices"][0]["message"]
    assert last["content"] == "all done"
    scripted.assert_script_consumed(run_id)

    extra = chat(http, scripted, body, who(run_id))
    assert extra.status_code == 400
    error = extra.json()["error"]
    assert error["type"] == "script_exhausted"
    assert run_id in error["message"]
    assert "'support'" in error["message"]
    assert "4 call(s) were scripted" in error["message"]

    state = scripted.state(run_id)
    kinds = [(c["agent"], c["step_index"], c["kind"], c["status"]) for c in state["calls"]]
    assert kinds == [
        ("support", 0, "tool_calls", 200),
        ("auditor", 0, "content", 200),
        ("support", 1, "raw_arguments", 200),
        ("support", 2, "json", 200),
        ("support", 3, "content", 200),
        ("support", None, "script_exhausted", 400),
    ]


def test_unscripted_agent_in_scripted_run_fails_clearly(
    http: httpx.Client, scripted: ScriptedServer, run_id: str
) -> None:
    scripted.set_script(run_id, {"support": [{"content": "hi"}]})
    response = chat(http, scripted, {"messages": user("x")}, who(run_id, "stranger"))
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "script_exhausted"
    assert "'stranger'" in response.json()["error"]["message"]
    assert "0 call(s) were scripted" in response.json()["error"]["message"]


def test_script_lookup_falls_back_to_workflow_id(
    http: httpx.Client, scripted: ScriptedServer
) -> None:
    workflow_id = f"wf-{uuid.uuid4().hex[:8]}"
    scripted.set_script(workflow_id, {"support": [{"content": "from the workflow script"}]})
    headers = who("some-team-run", **{"X-Baton-Workflow-Id": workflow_id, "X-Baton-Step": "3"})
    body = chat(http, scripted, {"messages": user("x")}, headers).json()
    assert body["choices"][0]["message"]["content"] == "from the workflow script"
    [call] = scripted.state(workflow_id)["calls"]
    assert (call["workflow_id"], call["step"]) == (workflow_id, "3")
    scripted.assert_script_consumed(workflow_id)
    scripted.clear(workflow_id)


def test_script_ids_are_deterministic(
    http: httpx.Client, scripted: ScriptedServer, run_id: str
) -> None:
    script = {"support": [{"tool_calls": [{"name": "lookup_order", "arguments": {}}]}]}
    ids = []
    for _ in range(2):
        scripted.set_script(run_id, script)
        body = chat(http, scripted, {"messages": user("x")}, who(run_id)).json()
        ids.append((body["id"], body["choices"][0]["message"]["tool_calls"][0]["id"]))
    assert ids[0] == ids[1]


def test_expectation_failure_answers_400(
    http: httpx.Client, scripted: ScriptedServer, run_id: str
) -> None:
    scripted.set_script(
        run_id,
        {
            "support": [
                {"content": "ok", "expect": {"last_message_contains": "A1001"}},
                {"content": "never", "expect": {"last_message_contains": "refund approved"}},
            ]
        },
    )
    assert chat(http, scripted, {"messages": user(TASK)}, who(run_id)).status_code == 200
    failed = chat(http, scripted, {"messages": user(TASK)}, who(run_id))
    assert failed.status_code == 400
    assert failed.json()["error"]["type"] == "script_expectation_failed"
    assert "refund approved" in failed.json()["error"]["message"]


def test_invalid_script_is_refused(scripted: ScriptedServer, run_id: str) -> None:
    with pytest.raises(ValueError, match="a step is one of"):
        scripted.set_script(run_id, {"support": [{"content": "x", "json": {}}]})
    with pytest.raises(ValueError, match="unknown fault"):
        scripted.set_faults(run_id, [{"fault": "explode"}])


def test_server_wide_script_file_applies_per_run(tmp_path: Path, http: httpx.Client) -> None:
    script = tmp_path / "script.yaml"
    script.write_text("agents:\n  support:\n    - content: first\n    - content: second\n")
    with ScriptedServer(script_file=str(script)) as server:
        for run in ("r1", "r2"):
            for expected in ("first", "second"):
                body = chat(http, server, {"messages": user("x")}, who(run)).json()
                assert body["choices"][0]["message"]["content"] == expected
        server.set_script("r3", {"support": [{"content": "own"}]})
        own = chat(http, server, {"messages": user("x")}, who("r3")).json()
        assert own["choices"][0]["message"]["content"] == "own"
        assert chat(http, server, {"messages": user("x")}, who("r1")).status_code == 400


# ----------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    "case",
    [
        ("500", 500, "server_error"),
        ("503", 503, "server_error"),
        ("401", 401, "invalid_request_error"),
        ("400", 400, "invalid_request_error"),
    ],
)
def test_status_faults(
    http: httpx.Client, scripted: ScriptedServer, run_id: str, case: tuple[str, int, str]
) -> None:
    fault, status, error_type = case
    scripted.set_script(run_id, {"support": [{"fault": fault}, {"content": "recovered"}]})
    failed = chat(http, scripted, {"messages": user("x")}, who(run_id))
    assert failed.status_code == status
    error = failed.json()["error"]
    assert set(error) >= {"message", "type", "code"}
    assert error["type"] == error_type
    assert "Retry-After" not in failed.headers
    ok = chat(http, scripted, {"messages": user("x")}, who(run_id))
    assert ok.json()["choices"][0]["message"]["content"] == "recovered"
    scripted.assert_script_consumed(run_id)


def test_429_sends_retry_after(http: httpx.Client, scripted: ScriptedServer, run_id: str) -> None:
    scripted.set_script(run_id, {"support": [{"fault": "429", "retry_after": 0.5}]})
    response = chat(http, scripted, {"messages": user("x")}, who(run_id))
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "0.5"
    assert response.headers["retry-after-ms"] == "500"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"


def test_anthropic_error_shape(http: httpx.Client, scripted: ScriptedServer, run_id: str) -> None:
    scripted.set_script(run_id, {"support": [{"fault": "429", "retry_after": 2}]})
    response = messages(
        http, scripted, {"messages": [{"role": "user", "content": "x"}]}, who(run_id)
    )
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.json() == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "injected fault: HTTP 429"},
    }
    invalid = messages(http, scripted, {"messages": [], "max_tokens": 5})
    assert invalid.status_code == 400
    assert invalid.json()["error"]["type"] == "invalid_request_error"


def test_malformed_body(http: httpx.Client, scripted: ScriptedServer, run_id: str) -> None:
    scripted.set_script(run_id, {"support": [{"fault": "malformed"}]})
    response = chat(http, scripted, {"messages": user("x")}, who(run_id))
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_hang_sleeps_then_504(http: httpx.Client, scripted: ScriptedServer, run_id: str) -> None:
    scripted.set_script(run_id, {"support": [{"fault": "hang", "seconds": 0.4}]})
    started = time.monotonic()
    response = chat(http, scripted, {"messages": user("x")}, who(run_id))
    assert time.monotonic() - started >= 0.4
    assert response.status_code == 504
    assert "hung" in response.json()["error"]["message"]


def test_latency_is_applied(http: httpx.Client, scripted: ScriptedServer, run_id: str) -> None:
    scripted.set_script(
        run_id, {"support": [{"content": "slow", "latency_s": 0.3}, {"content": "fast"}]}
    )
    started = time.monotonic()
    chat(http, scripted, {"messages": user("x")}, who(run_id))
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    chat(http, scripted, {"messages": user("x")}, who(run_id))
    assert time.monotonic() - started < 0.3


def test_server_wide_latency(http: httpx.Client) -> None:
    with ScriptedServer(latency_s=0.25) as server:
        started = time.monotonic()
        response = chat(http, server, {"messages": user("x")})
        assert response.status_code == 200
        assert time.monotonic() - started >= 0.25


def test_fault_queue_in_heuristic_mode(
    http: httpx.Client, scripted: ScriptedServer, run_id: str
) -> None:
    scripted.set_faults(
        run_id,
        [
            {"fault": "429", "retry_after": 0},
            {"fault": "ok"},
            {"fault": "500", "agent": "writer"},
            {"fault": "invalid_tool_args"},
        ],
    )
    request = {"messages": user(TASK), "tools": TOOLS}
    assert chat(http, scripted, request, who(run_id)).status_code == 429
    assert chat(http, scripted, request, who(run_id)).status_code == 200
    assert scripted.state(run_id)["faults_left"] == 2
    broken = chat(http, scripted, request, who(run_id)).json()["choices"][0]["message"]
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken["tool_calls"][0]["function"]["arguments"])
    assert chat(http, scripted, request, who(run_id, "writer")).status_code == 500
    assert chat(http, scripted, request, who(run_id)).status_code == 200
    state = scripted.state(run_id)
    assert state["faults_left"] == 0
    assert [c["fault"] for c in state["calls"]] == ["429", None, "invalid_tool_args", "500", None]


def test_hanging_request_does_not_block_shutdown(http: httpx.Client) -> None:
    with ScriptedServer() as server:
        server.set_faults("hang-run", [{"fault": "hang", "seconds": 30}])
        with pytest.raises(httpx.ReadTimeout):
            http.post(
                f"{server.base_url}/chat/completions",
                timeout=0.3,
                headers=who("hang-run"),
                json={"model": "m", "messages": user("x")},
            )
        started = time.monotonic()
    assert time.monotonic() - started < 5


# ----------------------------------------------------------------------------- misc endpoints


def test_models_health_and_bad_requests(http: httpx.Client, scripted: ScriptedServer) -> None:
    assert http.get(f"{scripted.root_url}/healthz").json() == {"status": "ok"}
    models = http.get(f"{scripted.base_url}/models").json()
    assert models["object"] == "list"
    assert [m["id"] for m in models["data"]] == ["baton-scripted"]
    missing = chat(http, scripted, {"messages": []})
    assert missing.status_code == 400
    assert missing.json()["error"]["type"] == "invalid_request_error"
    not_json = http.post(
        f"{scripted.base_url}/chat/completions",
        content=b"{nope",
        headers={"content-type": "application/json"},
    )
    assert not_json.status_code == 400
    unknown = http.get(f"{scripted.base_url}/nothing-here")
    assert unknown.status_code == 404
    assert "error" in unknown.json()


def test_anthropic_renders_scripted_steps(
    http: httpx.Client, scripted: ScriptedServer, run_id: str
) -> None:
    scripted.set_script(
        run_id,
        {
            "support": [
                {"tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "Z9"}}]},
                {"raw_arguments": "{oops", "name": "issue_refund"},
                {"json": {"ok": True}},
            ]
        },
    )
    request = {"messages": [{"role": "user", "content": "x"}]}
    first = messages(http, scripted, request, who(run_id)).json()
    assert first["stop_reason"] == "tool_use"
    assert first["content"][0]["input"] == {"order_id": "Z9"}
    raw = messages(http, scripted, request, who(run_id)).json()
    # Not a JSON object: rendered as the raw string so adapters exercise invalid arguments.
    assert raw["content"][0]["input"] == "{oops"
    final = messages(http, scripted, request, who(run_id)).json()
    assert final["stop_reason"] == "end_turn"
    assert json.loads(final["content"][0]["text"]) == {"ok": True}


def test_serve_entry_point_runs_a_script_file(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"agents": {"support": [{"content": "from the file"}]}}))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = (
        "from baton.scripted import serve; "
        f"serve('127.0.0.1', {port}, script_file={str(script)!r}, latency_s=0.0)"
    )
    process = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).parents[1])
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False) as client:
            deadline = time.monotonic() + 15
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "serve() did not come up"
                    time.sleep(0.05)
            body = {"model": "m", "messages": user("x")}
            answer = client.post("/v1/chat/completions", json=body, headers=who("file-run"))
            assert answer.json()["choices"][0]["message"]["content"] == "from the file"
    finally:
        process.terminate()
        process.wait(timeout=10)
