"""Reading a recorded history's payloads leniently: plain JSON, never today's strict models.

A history may have been written by an older release (other field names, fewer fields) and its
payloads may be encrypted. Every payload goes through the data converter's payload codec
(Baton's encryption, a user's compression) and is then read as plain JSON; the caller picks the
fields it needs. A payload that cannot be decoded (a key that is not configured here, an encoding
that is not JSON) is remembered with what it was, so the view can say exactly what is missing
instead of failing or guessing.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from baton.codec import ENCODING as ENCRYPTED
from baton.errors import BatonError

__all__ = ["MISSING", "Decoder", "load_history_file", "tolerant"]

_M = TypeVar("_M", bound=BaseModel)
_SHOWN = 6  # payloads named per problem; the rest are counted


class _Missing:
    """A payload that could not be decoded (see ``Decoder.notes``)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Decoder:
    """Payloads → plain JSON through one data converter's codec; remembers the failures."""

    def __init__(self, converter: DataConverter) -> None:
        self._codec = converter.payload_codec
        self._problems: dict[str, list[str]] = defaultdict(list)

    async def first(self, payloads: Iterable[Payload], what: str) -> Any:
        """The first payload as JSON, None when there is none, ``MISSING`` when unreadable."""
        for payload in payloads:
            return await self.value(payload, what)
        return None

    async def value(self, payload: Payload, what: str) -> Any:
        try:
            if self._codec is not None:
                [payload] = await self._codec.decode([payload])
        except Exception as exc:  # a missing key, a wrong key (InvalidTag), corrupt bytes
            return self._failed(what, _codec_problem(exc))
        encoding = payload.metadata.get("encoding", b"").decode(errors="replace")
        if encoding == "binary/null":
            return None
        if encoding.startswith("json/"):
            try:
                return json.loads(payload.data)
            except ValueError:
                return self._failed(what, f"its {encoding} data is not valid JSON")
        if encoding == ENCRYPTED.decode():
            key = payload.metadata.get("encryption-key-id", b"?").decode(errors="replace")
            return self._failed(what, f"encrypted with key {key!r}; no codec keys are configured"
                                      " here (BATON_CODEC_KEYS or codec_keys_file)")
        return self._failed(what, f"encoding {encoding or 'none'!r} is not JSON")

    def _failed(self, what: str, problem: str) -> Any:
        self._problems[problem].append(what)
        return MISSING

    def notes(self) -> list[str]:
        """One sentence per kind of failure, naming the payloads it hit."""
        out = []
        for problem, whats in self._problems.items():
            named = ", ".join(whats[:_SHOWN]) + (f" and {len(whats) - _SHOWN} more"
                                                 if len(whats) > _SHOWN else "")
            count = f"{len(whats)} payload{'' if len(whats) == 1 else 's'}"
            out.append(f"{count} could not be decoded ({problem}): {named}; what they held is "
                       "missing from this view")
        return out


def _codec_problem(exc: Exception) -> str:
    text = str(exc)
    if type(exc).__name__ == "InvalidTag":  # cryptography: the key named is not the right one
        return "the configured key with that id does not decrypt it"
    return text or type(exc).__name__


def tolerant(model: type[_M], data: Any, **defaults: Any) -> _M | None:
    """``model`` from whatever ``data`` holds: unknown fields are dropped, a field today's
    model refuses falls back to ``defaults`` or the model's own default, so an older
    release's payload still reads. None when even that does not validate (or ``data`` is not
    an object)."""
    if not isinstance(data, Mapping):
        return None
    fields = {k: v for k, v in data.items() if k in model.model_fields}
    for name, value in defaults.items():
        if fields.get(name) is None:
            fields[name] = value
    for _ in range(len(fields) + 1):
        try:
            return model.model_validate(fields)
        except ValidationError as exc:
            bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]} & fields.keys()
            if not bad:  # a required field nobody gave: nothing left to fall back on
                return None
            for name in bad:
                if name in defaults and fields[name] is not defaults[name]:
                    fields[name] = defaults[name]
                else:
                    fields.pop(name)
    return None


def load_history_file(path: Path) -> WorkflowHistory:
    """A history saved as JSON: downloaded from the Temporal UI, printed by
    ``temporal workflow show --output json`` or written by ``WorkflowHistory.to_json()``."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise BatonError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        history = WorkflowHistory.from_json("", text)
    except (ValueError, TypeError) as exc:
        raise BatonError(f"{path} is not a Temporal history in JSON ({exc})") from exc
    if not history.events or not history.events[0].HasField(
            "workflow_execution_started_event_attributes"):
        raise BatonError(f"{path} holds no workflow history (its first event is not the start)")
    started = history.events[0].workflow_execution_started_event_attributes
    # Servers record the workflow id in the start event; older files name the run by their name.
    return WorkflowHistory(started.workflow_id or path.stem, history.events)
