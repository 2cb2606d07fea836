"""Turning a submitted form into a decision, signed for the person the console identified.

The edit form has one text field per argument of the tool (from its schema, in the run's
catalog). A field of a string argument is taken as typed; any other field is read as JSON
(``20``, ``true``, ``["a"]``), and text that is not JSON is kept as text, so the schema check
says what is wrong (``'lots' is not of type 'number'``) instead of the console guessing. Only
the arguments that changed are sent: an edit is a partial object merged over the original.

With a key (``BATON_CONSOLE_KEY_FILE``) the console signs as the approvals service ``console``
for the person it identified; the workers accept that only for the approvers the deployment
lets the service sign for. Without a key the decision goes unsigned (a development stack).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from baton.approvals import ApprovalDecision, DecisionReceipt, PendingApproval
from baton.client.api import BatonClient
from baton.signing import signed
from baton.specs import ToolSpec

__all__ = ["SIGNER", "Decider", "Field", "changes_from_form", "edit_fields"]

SIGNER = "console"  # the approvals service name workers list under [approval_services]
FIELD_PREFIX = "arg."


@dataclass(frozen=True)
class Field:
    """One argument in the edit form."""

    name: str
    kind: str  # the schema's type, for the label: string, number, integer, boolean, ...
    value: str  # as the form shows it
    description: str = ""
    required: bool = False


def _kind(schema: dict[str, Any]) -> str:
    kind = schema.get("type", "any")
    return "/".join(kind) if isinstance(kind, list) else str(kind)


def _as_text(value: Any, kind: str) -> str:
    return value if kind == "string" and isinstance(value, str) else json.dumps(
        value, ensure_ascii=False)


def edit_fields(pending: PendingApproval, tool: ToolSpec | None) -> list[Field]:
    """The tool's arguments (schema order, then any others the call had), with their values."""
    properties: dict[str, Any] = (tool.parameters.get("properties") or {}) if tool else {}
    required = set((tool.parameters.get("required") or []) if tool else [])
    names = [*properties, *(n for n in pending.args if n not in properties)]
    fields = []
    for name in names:
        schema = properties.get(name, {})
        kind = _kind(schema)
        value = pending.args.get(name, schema.get("default", ""))
        fields.append(Field(name=name, kind=kind, value=_as_text(value, kind),
                            description=str(schema.get("description", "")),
                            required=name in required))
    return fields


def _parse(text: str, kind: str) -> Any:
    if kind == "string":
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # the schema check names the problem


def changes_from_form(form: dict[str, str], pending: PendingApproval,
                      tool: ToolSpec | None) -> dict[str, Any]:
    """The arguments the person changed, parsed by their schema type."""
    kinds = {f.name: f.kind for f in edit_fields(pending, tool)}
    changes: dict[str, Any] = {}
    for key, text in form.items():
        if not key.startswith(FIELD_PREFIX):
            continue
        name = key.removeprefix(FIELD_PREFIX)
        if name not in kinds:
            continue  # only the tool's own arguments: a form cannot invent one
        if name not in pending.args and text == "":
            continue  # an optional argument left empty stays unset
        value = _parse(text, kinds[name])
        if name not in pending.args or pending.args[name] != value:
            changes[name] = value
    return changes


class Decider:
    """Sends decisions through the team's run (it routes them to the member holding the
    approval), signed by the console when it has a key."""

    def __init__(self, client: BatonClient, key: Ed25519PrivateKey | None) -> None:
        self._client = client
        self._key = key

    @property
    def signs(self) -> bool:
        return self._key is not None

    async def decide(self, person: str, pending: PendingApproval, *,
                     action: Literal["approve", "reject", "edit"], reason: str | None,
                     changes: dict[str, Any] | None = None) -> DecisionReceipt:
        decision = ApprovalDecision(approval_id=pending.approval_id, decision=action,
                                    by=person, reason=reason or None,
                                    args=changes if action == "edit" else None)
        if self._key is not None:
            decision = signed(decision, self._key, run_id=pending.run_id, signer=SIGNER)
        return await self._client.decide(decision, workflow_id=pending.run_id,
                                         run_id=pending.run_id)
