"""Signed approval decisions: proof of who decided, checked inside the workflow.

A decision is signed with the decider's Ed25519 key over a canonical message that binds it to
one run and one approval: ``(run id, approval id, decision, arguments, decider, reason, signed
at)``. The workflow verifies it against the public keys of the deployment's approvers, which it
received at its start through an activity and recorded in history (public keys are not secrets;
private keys never leave the decider's machine or the approvals service that signs for them).
Verification is pure and deterministic, so it runs in workflow code and replays identically.

A decision replayed on another approval or another run does not verify: both ids are signed.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from baton.approvals import ApprovalDecision

__all__ = [
    "decision_message",
    "generate_key",
    "load_private_key",
    "public_key_text",
    "sign_decision",
    "signed",
    "verify_decision",
]

_VERSION = "baton.decision.v1"


def decision_message(*, run_id: str, approval_id: str, decision: str,
                     args: dict[str, Any] | None, by: str, reason: str | None,
                     signed_at: datetime, signer: str | None = None) -> bytes:
    """The exact bytes a decision's signature covers (key-sorted, whitespace-free JSON).
    ``signer`` names the approvals service that signed for ``by`` (None: ``by`` signed)."""
    return json.dumps(
        [_VERSION, run_id, approval_id, decision, args, by, reason, signed_at.isoformat(),
         signer], sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign_decision(key: Ed25519PrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message)).decode("ascii")


def signed(decision: ApprovalDecision, key: Ed25519PrivateKey, *, run_id: str,
           at: datetime | None = None, signer: str | None = None) -> ApprovalDecision:
    """``decision`` signed for the approval it names in run ``run_id``: by its decider's key,
    or by the key of the approvals service ``signer`` that authenticated the decider."""
    at = at or datetime.now(UTC)
    message = decision_message(run_id=run_id, approval_id=decision.approval_id,
                               decision=decision.decision, args=decision.args, by=decision.by,
                               reason=decision.reason, signed_at=at, signer=signer)
    return decision.model_copy(update={"signed_at": at, "signer": signer,
                                       "signature": sign_decision(key, message)})


def verify_decision(public_keys: list[str], message: bytes, signature: str) -> bool:
    """Whether ``signature`` over ``message`` verifies with one of ``public_keys`` (base64 raw
    Ed25519 keys: several while a key is being rotated)."""
    try:
        raw_signature = base64.b64decode(signature, validate=True)
    except ValueError:
        return False
    for text in public_keys:
        try:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
            key.verify(raw_signature, message)
        except (ValueError, InvalidSignature):
            continue
        return True
    return False


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_key_text(key: Ed25519PrivateKey) -> str:
    """The base64 raw public key, as the worker's configuration lists it."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM file (``baton keys generate`` writes one)."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return key


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
