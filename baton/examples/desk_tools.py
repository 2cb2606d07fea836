"""Offline tools of the support-desk examples beyond :mod:`baton.examples.support_tools`: a product
troubleshooting guide and a password-reset sender. Deterministic, no network."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from baton.tools import ToolContext, tool

__all__ = ["send_password_reset", "troubleshoot"]

# product keyword → (product, steps); the first guide whose keyword the text mentions wins.
_GUIDES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("espresso", "espresso machine", (
        "Check that the water tank is seated and the power switch on the back is on",
        "Hold the power button for 10 seconds to reset the thermal fuse",
        "If it still will not start, it is covered by the 2-year warranty: request a repair")),
    ("headphone", "wireless headphones", (
        "Charge for 30 minutes with the supplied cable",
        "Hold power and volume-down for 8 seconds to reset the pairing",
        "Remove the headphones from the phone's Bluetooth list and pair again")),
    ("lamp", "desk lamp", (
        "Try another socket and check the switch on the cable",
        "Replace the bulb with a 6 W LED bulb (E14)",
        "If the lamp still does not light, return it within 30 days for a replacement")),
    ("watch", "smartwatch", (
        "Charge it on the dock for one hour",
        "Hold the side button for 15 seconds to force a restart",
        "Update the companion app, then pair the watch again")),
)
_GENERIC = ("Unplug the device for one minute, then plug it back in",
            "Check the cable, the socket and the power switch",
            "If it still fails, the warranty covers repairs for two years")


@tool(cacheable=True, timeout_s=10.0)
def troubleshoot(problem: str) -> dict[str, Any]:
    """Troubleshooting guide for products that won't turn on, crash, overheat, disconnect or
    make noise: returns the steps to try, in order, and when the warranty applies.

    Args:
        problem: The product and what goes wrong, in plain words.
    """
    lowered = problem.lower()
    for keyword, product, steps in _GUIDES:
        if keyword in lowered:
            return {"product": product, "steps": "; ".join(steps), "warranty": "2 years"}
    return {"product": "device", "steps": "; ".join(_GENERIC), "warranty": "2 years"}


@tool(effect="write", timeout_s=10.0)
def send_password_reset(email: str, ctx: ToolContext) -> dict[str, Any]:
    """Send a password-reset link to the account's email address (for sign-in and login
    problems or a forgotten password).

    Args:
        email: The account's email address.
    """
    if not re.fullmatch(r"[\w.+-]+@[\w-]+\.[\w.]+", email.strip()):
        raise ValueError(f"{email!r} is not an email address; ask the customer for it")
    reset = hashlib.sha256(ctx.idempotency_key.encode()).hexdigest()[:6].upper()
    return {"reset_id": f"PR-{reset}", "email": email.strip(), "status": "sent",
            "expires_in": "1 hour"}
