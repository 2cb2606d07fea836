"""A trivial read tool, so the benchmark measures Baton's overhead and not the tool."""

from baton.tools import tool


@tool
def echo(text: str) -> str:
    """Return the text unchanged.

    Args:
        text: Any text.
    """
    return text
