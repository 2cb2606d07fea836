"""Test tools whose own code requires approval, for the trust-boundary tests: what a run may
not relax. Side effects are appended to ``$BATON_TRANSFERS`` (one JSON line per execution)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from baton.approvals import ApprovalPolicy
from baton.tools import ToolContext, tool

__all__ = ["executed", "lookup_account", "refund_fee", "top_up", "wire_transfer"]


def _log() -> Path:
    return Path(os.environ["BATON_TRANSFERS"])


def executed() -> list[dict[str, Any]]:
    path = _log()
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@tool(effect="write", approval=ApprovalPolicy(mode="always", approvers=("treasury",)))
def wire_transfer(account: str, amount: float, ctx: ToolContext) -> dict[str, Any]:
    """Send money to an account.

    Args:
        account: the receiving account
        amount: how much, in EUR
    """
    with _log().open("a") as out:
        out.write(json.dumps({"account": account, "amount": amount,
                              "key": ctx.idempotency_key}) + "\n")
    return {"sent": amount, "to": account}


@tool(cacheable=True)
def lookup_account(account: str) -> dict[str, Any]:
    """Look up an account's owner.

    Args:
        account: the account number
    """
    return {"account": account, "owner": "ACME Ltd"}


@tool(effect="write")
def refund_fee(account: str, amount: float, ctx: ToolContext) -> dict[str, Any]:
    """Refund a fee; its code asks for no approval (a team may add one).

    Args:
        account: the account to credit
        amount: how much, in EUR
    """
    with _log().open("a") as out:
        out.write(json.dumps({"account": account, "amount": amount,
                              "key": ctx.idempotency_key}) + "\n")
    return {"refunded": amount, "to": account}


@tool(effect="write", expiry_may_approve=True, approval=ApprovalPolicy(
    mode="always", expires_in_s=3600, on_expiry="approve"))
def top_up(account: str, ctx: ToolContext) -> dict[str, Any]:
    """Top up an account by a fixed 5 EUR; its code lets it run if nobody answers in an hour.

    Args:
        account: the account to top up
    """
    with _log().open("a") as out:
        out.write(json.dumps({"account": account, "amount": 5.0,
                              "key": ctx.idempotency_key}) + "\n")
    return {"topped_up": 5.0, "to": account}
