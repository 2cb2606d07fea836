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
