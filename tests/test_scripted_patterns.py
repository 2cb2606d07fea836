"""The scripted model's pattern strategies over real loopback HTTP (heuristic mode): routing,
handoff, debate, judging, merging and pipeline stages. Inputs are written with the pattern
workflows' own builders and markers, as the workflows write them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from baton.scripted.testing import ScriptedServer
from baton.workflows.debate import POSITION_INSTRUCTION
from baton.workflows.fanout import FAILED_BRANCHES, OUTPUT_OF
from baton.workflows.handoff import TRANSFERRED_FROM
from baton.workflows.pipeline import stage_task
from baton.workflows.supervisor import format_report


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0, trust_env=False) as client:
        yield client


def fn(name: str, description: str, props: dict[str, Any] | None = None) -> dict[str, Any]:
    props = props if props is not None else {"task": {"type": "string"}}
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": props, "required": list(props)}}}


def system(name: str, description: str, instructions: str = "Do your job.") -> dict[str, str]:
    return {"role": "system", "content": f"You are {name}: {description}\n\n{instructions}"}


def ask(http: httpx.Client, server: ScriptedServer, messages: list[dict[str, Any]],
        **body: Any) -> dict[str, Any]:
    response = http.post(f"{server.base_url}/chat/completions",
                         json={"model": "baton-scripted", "messages": messages, **body})
    assert response.status_code == 200, response.text
    message: dict[str, Any] = response.json()["choices"][0]["message"]
    return message


def call_of(message: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    [call] = message["tool_calls"]
    return call["function"]["name"], json.loads(call["function"]["arguments"])


def reply(messages: list[dict[str, Any]], message: dict[str, Any], result: str) -> None:
    messages.append({"role": "assistant", "content": None, "tool_calls": message["tool_calls"]})
    messages.append({"role": "tool", "tool_call_id": message["tool_calls"][0]["id"],
                     "content": result})


# ----------------------------------------------------------------------------- supervisor routing

WORKERS = [
    fn("delegate_to_billing", "Delegate a sub-task to billing (Billing specialist for charges, "
       "refunds, invoices and payments on orders); returns its report."),
    fn("delegate_to_tech", "Delegate a sub-task to tech (Technical support for products that "
       "won't turn on, crash or make noise); returns its report."),
    fn("delegate_to_account", "Delegate a sub-task to account (Account specialist for sign-in "
       "problems, passwords and email changes); returns its report."),
]
REQUEST = ("I was charged twice for order A1002 and want a refund for the duplicate charge. "
           "Also my espresso machine won't turn on.")


def test_router_delegates_each_need_once_then_integrates_the_reports(
        http: httpx.Client, scripted: ScriptedServer) -> None:
    messages = [system("front_desk", "Front desk router"), {"role": "user", "content": REQUEST}]
    first = ask(http, scripted, messages, tools=WORKERS)
    name, args = call_of(first)
    assert name == "delegate_to_billing"
    assert "A1002" in args["task"] and "refund" in args["task"]
    assert "espresso" not in args["task"]  # only billing's part
    reply(messages, first, format_report("billing", "completed", "Refund RF-00001 of $249.00 queued."))

    second = ask(http, scripted, messages, tools=WORKERS)
    name, args = call_of(second)
    assert name == "delegate_to_tech"
    assert "espresso machine won't turn on" in args["task"] and "order A1002" in args["task"]
    reply(messages, second, format_report("tech", "failed", "[max_steps] reached max_steps=4"))

    final = ask(http, scripted, messages, tools=WORKERS)
    assert "tool_calls" not in final
    text = final["content"]
    assert "billing: Refund RF-00001 of $249.00 queued." in text
    assert "tech could not complete its part" in text and "Still open: tech" in text
    assert "account" not in text  # nobody asked account: no need mentioned it


def test_router_sends_an_unmatched_request_to_the_best_worker_whole(
        http: httpx.Client, scripted: ScriptedServer) -> None:
    messages = [system("front_desk", "Front desk router"),
                {"role": "user", "content": "Hello, quick question about my invoice please"}]
    name, args = call_of(ask(http, scripted, messages, tools=WORKERS))
    assert name == "delegate_to_billing"
    assert "invoice" in args["task"]


def test_router_is_deterministic(http: httpx.Client, scripted: ScriptedServer) -> None:
    messages = [system("front_desk", "Front desk router"), {"role": "user", "content": REQUEST}]
    assert ask(http, scripted, messages, tools=WORKERS) == ask(
        http, scripted, messages, tools=WORKERS)


# ----------------------------------------------------------------------------- handoff

def transfer(name: str, description: str) -> dict[str, Any]:
    return fn(f"transfer_to_{name}", f"Transfer the conversation to {name}: {description}",
              {"reason": {"type": "string"}})


BILLING = "Billing specialist for charges, refunds, invoices and payments"
TECH = "Technical support for products that won't turn on, crash or disconnect"


def test_handoff_transfers_when_another_role_fits_better(
        http: httpx.Client, scripted: ScriptedServer) -> None:
    messages = [system("triage", "First contact; passes the customer to the right specialist"),
                {"role": "user", "content": "My lamp from order A1004 won't turn on"}]
    name, args = call_of(ask(http, scripted, messages,
                             tools=[transfer("billing", BILLING), transfer("tech", TECH)]))
    assert name == "transfer_to_tech"
    assert "than triage" in args["reason"]


def test_handoff_answers_when_its_own_role_fits(
        http: httpx.Client, scripted: ScriptedServer) -> None:
    messages = [system("billing", BILLING), {"role": "user",
                                            "content": "I was charged twice, refund please"}]
    answer = ask(http, scripted, messages, tools=[transfer("tech", TECH)])
    assert "tool_calls" not in answer and answer["content"]


def test_handoff_never_transfers_back_along_the_chain(
        http: httpx.Client, scripted: ScriptedServer) -> None:
    task = ("I was charged twice, refund please\n\n"
            f"{TRANSFERRED_FROM}billing: tech fits this request better than billing]")
    messages = [system("tech", TECH), {"role": "user", "content": task}]
    answer = ask(http, scripted, messages, tools=[transfer("billing", BILLING)])
    assert "tool_calls" not in answer  # billing fits better, but it just handed over: answer


# ----------------------------------------------------------------------------- debate

PG = system("pg_architect", "Database architect who favours PostgreSQL for its data integrity, "
            "transactional guarantees and mature tooling")
MONGO = system("mongo_architect", "Architect who prefers MongoDB because of flexible schemas "
               "and horizontal scaling", "Open-minded: change position for a better case.")
QUESTION = "Should the new order service use PostgreSQL or MongoDB as its main database?"


def debate_task(round_no: int, others: dict[str, str]) -> str:
    lines = [f"Debate question: {QUESTION}", "",
             f"Round {round_no} of at most 2. {POSITION_INSTRUCTION}"]
    if others:
        lines += ["", "The other debaters' latest positions (one JSON message each):"]
        lines += [json.dumps({"source": name, "destination": "x", "kind": "report", "payload": {
            "round": round_no - 1, "position": text.splitlines()[0].removeprefix("POSITION: "),
            "argument": text}}) for name, text in others.items()]
    return "\n".join(lines)


def test_debaters_argue_from_their_roles_then_converge_by_rule(
        http: httpx.Client, scripted: ScriptedServer) -> None:
    pg = ask(http, scripted, [PG, {"role": "user", "content": debate_task(1, {})}])["content"]
    mongo = ask(http, scripted, [MONGO, {"role": "user", "content": debate_task(1, {})}])["content"]
    assert pg.startswith("POSITION: Use PostgreSQL\n")
    assert "(1) data integrity" in pg and "(3) mature tooling" in pg
    assert mongo.startswith("POSITION: Use MongoDB\n") and "(2) horizontal scaling" in mongo
    # Last round: the open-minded debater adopts the other stance, in the same words.
    mongo2 = ask(http, scripted, [MONGO, {"role": "user", "content": debate_task(
        2, {"pg_architect": pg})}])["content"]
    assert mongo2.startswith("POSITION: Use PostgreSQL\n")
    assert "pg_architect makes the stronger case: data integrity" in mongo2
    # The convinced one keeps its stance and answers the other's strongest point.
    pg2 = ask(http, scripted, [PG, {"role": "user", "content": debate_task(
        2, {"mongo_architect": mongo})}])["content"]
    assert pg2.startswith("POSITION: Use PostgreSQL\n")
    assert "acknowledge mongo_architect's point that flexible schemas" in pg2
    agreed = ask(http, scripted, [PG, {"role": "user", "content": debate_task(
        2, {"mongo_architect": mongo2})}])["content"]
    assert "We agree: mongo_architect" in agreed


def test_judge_picks_a_winner_with_a_reason(http: httpx.Client, scripted: ScriptedServer) -> None:
    messages = [json.dumps({"source": n, "destination": "judge", "kind": "report", "payload": {
        "round": 2, "position": p, "argument": f"POSITION: {p}\n{a}"}})
        for n, p, a in [("pg_architect", "Use PostgreSQL", "Reasons: (1) data integrity."),
                        ("mongo_architect", "Use MongoDB", "Reasons: (1) flexible schemas.")]]
    task = "\n".join([f"Question: {QUESTION}", "", "Outcome of the debate: no consensus.", "",
                      "Final positions (one JSON message each):", *messages, "",
                      "As the judge, weigh the arguments and give the final answer."])
    judge = system("judge", "Neutral judge who decides, weighing data integrity and risk")
    text = ask(http, scripted, [judge, {"role": "user", "content": task}])["content"]
    assert text.startswith("Winner: pg_architect — Use PostgreSQL\nReason: ")
    assert "integrity" in text and "mongo_architect argued Use MongoDB" in text


def test_merger_states_what_each_branch_found_and_what_failed(
        http: httpx.Client, scripted: ScriptedServer) -> None:
    task = ("Task: How do workflow engines avoid duplicate side effects?\n\nMerge these branch "
            f"outputs into one answer.\n\n{OUTPUT_OF}guides:\nIdempotency keys make retries "
            f"safe for side effects. A ledger records completed side effects.\n\n{OUTPUT_OF}"
            "faq:\nEvery side effect carries an idempotency key stored in a ledger table.\n\n"
            f"{FAILED_BRANCHES}postmortems: max_steps: reached max_steps=4")
    editor = system("editor", "Editor who merges the researchers' findings into one report")
    text = ask(http, scripted, [editor, {"role": "user", "content": task}])["content"]
    assert text.startswith("Merged answer from 2 of 3 branches")
    assert "- guides: Idempotency keys make retries safe" in text and "- faq: Every side" in text
    assert "Missing: postmortems failed" in text


# ----------------------------------------------------------------------------- pipeline stages

CODE = ('```python\ndef find_user(conn, name):\n    password = "hunter2"\n    try:\n        '
        'return conn.execute(f"SELECT * FROM users WHERE name = {name}")\n    except:\n'
        '        return None\n```')


def test_reviewer_stage_numbers_the_reported_issues_with_a_verdict(
        http: httpx.Client, scripted: ScriptedServer) -> None:
    task = stage_task(f"Review this function:\n{CODE}", "static_checks", "I linted snippet "
                      "(issues line 1: find_user() has no docstring; line 5: bare except).")
    reviewer = system("reviewer", "Senior code reviewer; returns numbered issues and a verdict")
    text = ask(http, scripted, [reviewer, {"role": "user", "content": task}])["content"]
    assert text.startswith("Review of the code from static_checks:")
    assert "1. line 1: find_user() has no docstring" in text and "2. line 5: bare except\n" in text
    assert text.count("bare") == 1  # each finding once
    assert text.endswith("Verdict: changes requested.")


def test_summariser_stage_leads_with_the_serious_issues(
        http: httpx.Client, scripted: ScriptedServer) -> None:
    review = ("Review: 3 issues found.\n1. line 1: no docstring\n2. line 4: SQL built by string "
              "formatting allows SQL injection\n3. line 5: bare except\nVerdict: changes requested.")
    summariser = system("summariser", "Summarises the review for the author")
    text = ask(http, scripted, [summariser, {"role": "user", "content":
                                             stage_task("Review it", "reviewer", review)}])
    assert text["content"].startswith("Summary: reviewer lists 3 points; the most important: "
                                      "line 4: SQL built")
    assert text["content"].endswith("Verdict: changes requested.")


# ----------------------------------------------------------------------------- blackboard turns

def board_task(board: dict[str, Any], fills: str) -> str:
    return (f"Task: Checkout is slow and returns 502 errors since 14:05.\n\nBlackboard (JSON; "
            f"null = not filled yet):\n{json.dumps(board, sort_keys=True)}\n\nDeclared keys:\n"
            f"- symptoms (array)\n- diagnosis (string)\nGoal key: diagnosis\n\nTurn 2: you may "
            f"write {fills}. Reply with only a JSON object holding the keys you fill.")


def schema_format(keys: dict[str, str]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "board", "schema": {
        "type": "object", "additionalProperties": False, "minProperties": 1,
        "properties": {k: {"type": t} for k, t in keys.items()}}}}


def test_blackboard_turn_posts_symptoms_from_the_task_and_tool_results(
        http: httpx.Client, scripted: ScriptedServer) -> None:
    observer = system("observer", "Collects symptoms for the board")
    messages = [observer, {"role": "user", "content": board_task(
        {"diagnosis": None, "symptoms": None}, "symptoms")}]
    fetch = fn("fetch_alerts", "Fetch the firing alerts (errors, latency) of one service",
               {"service": {"type": "string", "enum": ["checkout", "search"]}})
    first = ask(http, scripted, messages, tools=[fetch],
                response_format=schema_format({"symptoms": "array"}))
    assert call_of(first) == ("fetch_alerts", {"service": "checkout"})
    reply(messages, first, json.dumps({"symptoms": ["HTTP 502 rate 18%", "pool exhausted"]}))
    final = ask(http, scripted, messages, tools=[fetch],
                response_format=schema_format({"symptoms": "array"}))
    assert json.loads(final["content"]) == {"symptoms": ["HTTP 502 rate 18%", "pool exhausted"]}


# ----------------------------------------------------------------------------- side effects

ORDER_TOOLS = [
    fn("lookup_order", "Look up an order by its id (e.g. A1001): customer, item, amount, status.",
       {"order_id": {"type": "string"}}),
    fn("issue_refund", "Refund part or all of an order to the customer's original payment "
       "method.", {"order_id": {"type": "string"}, "amount": {"type": "number"},
                   "reason": {"type": "string"}}),
]


@pytest.mark.parametrize(("task", "refunds"), [
    ("Where is my order A1002?", False),
    ("I have an issue with order A1002", False),
    ("Order A1002 arrived broken, please refund it", True),
    ("Order A1003 arrived with a torn sole, can I get my money back?", True),
])
def test_side_effects_only_when_asked(http: httpx.Client, scripted: ScriptedServer, task: str,
                                      refunds: bool) -> None:
    messages = [system("support", "Support agent"), {"role": "user", "content": task}]
    first = ask(http, scripted, messages, tools=ORDER_TOOLS)
    assert call_of(first)[0] == "lookup_order"
    reply(messages, first, json.dumps({"order_id": "A1002", "amount": 249.0, "status": "shipped"}))
    second = ask(http, scripted, messages, tools=ORDER_TOOLS)
    assert ("tool_calls" in second and call_of(second)[0] == "issue_refund") is refunds
