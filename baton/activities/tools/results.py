"""Turning what a tool returned (or raised) into a ``ToolOutcome``.

Two audiences, two sizes. ``content`` is what the model reads: the string a tool returned, or
the JSON text of anything else, cut at ``max_chars`` with a note saying so (a model that does
not know it saw a prefix draws wrong conclusions). ``value`` is the full JSON value for the run
log; it travels through workflow history, so it is kept only when small and otherwise replaced
by a marker in ``extra`` to keep history bounded (docs/architecture.md#linear-history).
"""

from __future__ import annotations

import json
from typing import Any

import pydantic_core

from baton.calls import ToolOutcome

__all__ = ["MAX_VALUE_BYTES", "error_outcome", "ok_outcome", "truncate"]

# Largest serialised tool value kept in ``ToolOutcome.value`` (and so in workflow history).
MAX_VALUE_BYTES = 64 * 1024
# A string result longer than this is stored once, as ``content`` (``content_is_value``): below
# it, the flag would take more room than the copy it saves.
_SHORT = 24


class UnserialisableResultError(TypeError):
    """The tool returned something that has no JSON form."""


def _to_json_value(value: Any) -> Any:
    # pydantic_core knows models, dataclasses, datetimes, UUIDs, Decimals, enums, sets, paths...
    # and raises for anything it cannot represent instead of guessing with str().
    try:
        return pydantic_core.to_jsonable_python(value)
    except pydantic_core.PydanticSerializationError as exc:
        raise UnserialisableResultError(str(exc)) from exc


def truncate(text: str, max_chars: int) -> tuple[str, bool]:
    if len(text) <= max_chars:
        return text, False
    note = f"\n[truncated: {max_chars} of {len(text)} characters shown]"
    return text[:max_chars] + note, True


def error_outcome(
    error_type: str, content: str, *, max_chars: int, extra: dict[str, Any] | None = None
) -> ToolOutcome:
    text, cut = truncate(content, max_chars)
    return ToolOutcome(
        status="error", error_type=error_type, content=text, truncated=cut, extra=extra or {}
    )


def ok_outcome(tool_name: str, result: Any, *, max_chars: int) -> ToolOutcome:
    """An ``ok`` outcome for ``result``, or an ``unserialisable_result`` error outcome."""
    try:
        value = _to_json_value(result)
        # allow_nan=False: NaN/Infinity are not JSON; the model and the run log would choke.
        encoded = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (UnserialisableResultError, ValueError) as exc:
        return error_outcome(
            "unserialisable_result",
            f"tool {tool_name} returned a {type(result).__name__} that cannot be turned into "
            f"JSON ({exc}). This is a bug in the tool, not in your arguments.",
            max_chars=max_chars,
        )
    content, cut = truncate(value if isinstance(value, str) else encoded, max_chars)
    size = len(encoded.encode("utf-8"))
    if isinstance(value, str) and not cut and len(value) > _SHORT:
        return ToolOutcome(status="ok", content=content, content_is_value=True)
    if size <= MAX_VALUE_BYTES:
        return ToolOutcome(status="ok", content=content, value=value, truncated=cut)
    return ToolOutcome(
        status="ok",
        content=content,
        value=None,
        truncated=cut,
        extra={"value_omitted": True, "value_bytes": size},
    )
