"""Trivial read tools, so the benchmarks measure Baton's overhead and not the tools."""

import time

from baton.tools import tool


@tool
def echo(text: str) -> str:
    """Return the text unchanged.

    Args:
        text: Any text.
    """
    return text


# When each ``stamp`` call finished (wall clock, by its text): the event-stream benchmark
# measures from here to the moment a client sees the call's event. The worker runs in the
# benchmark's own process, so the clocks are one.
FINISHED: dict[str, float] = {}


@tool
def stamp(text: str) -> str:
    """Return the text unchanged, noting when the call finished.

    Args:
        text: Any text (unique per call).
    """
    FINISHED[text] = time.time()
    return text


_EVENTS = ("the customer wrote in about", "an agent replied about", "the warehouse logged",
           "the carrier reported", "billing noted", "the customer called about")
_TOPICS = ("a late parcel", "a damaged box", "a missing invoice", "a changed address",
           "a refund request", "a size exchange", "a duplicate charge", "a delivery slot")


@tool
def read_ticket(ticket_id: str) -> str:
    """The whole history of a support ticket: every message and event, oldest first (long).

    Args:
        ticket_id: The ticket, e.g. T-1001.
    """
    seed = sum(map(ord, ticket_id))
    lines = [f"Ticket {ticket_id}, history (24 entries):"]
    for n in range(24):
        event, topic = _EVENTS[(seed + n) % len(_EVENTS)], _TOPICS[(seed * 7 + n) % len(_TOPICS)]
        lines.append(f"{n + 1:>2}. day {n // 3 + 1}: {event} {topic}; reference {ticket_id}-{n}, "
                     f"status {'open' if n % 4 else 'pending'}, no further action recorded.")
    return "\n".join(lines)
