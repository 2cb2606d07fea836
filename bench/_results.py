"""bench/results.json and the README tables, shared by ``make bench`` and ``make bench-peers``.

Both write figures into one file; each replaces only its own (``peer_*`` figures belong to
``bench.peers``, every other figure to ``bench``) and keeps the other's, so neither command
erases what the other measured.
"""

from __future__ import annotations

import json
import platform
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent
RESULTS = Path(__file__).parent / "results.json"
README = ROOT / "README.md"
PEER_PREFIX = "peer_"


def machine() -> str:
    return f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def load() -> dict[str, Any]:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {"figures": {}}


def write_results(figures: dict[str, dict[str, Any]], *, keep: Callable[[str], bool],
                  **fields: Any) -> dict[str, dict[str, Any]]:
    """Write ``figures`` over the existing ones that ``keep`` keeps (all others are dropped),
    set the top-level ``fields``, and return every figure now in the file."""
    document = load()
    merged = {n: f for n, f in document.get("figures", {}).items() if keep(n)}
    merged.update(figures)
    # bench's figures first, then the peers', each in the order they were measured.
    merged = dict(sorted(merged.items(), key=lambda item: item[0].startswith(PEER_PREFIX)))
    document.update(fields, figures=merged)
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    return merged


def replace_block(marker: str, lines: list[str]) -> None:
    """Put ``lines`` between ``<!-- MARKER:start -->`` and ``<!-- MARKER:end -->`` in the README
    (nothing happens if the README has no such block)."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    text = README.read_text() if README.exists() else ""
    if start in text:
        body = "\n".join(lines)
        README.write_text(re.sub(f"{re.escape(start)}.*?{re.escape(end)}",
                                 lambda _: f"{start}\n{body}\n{end}", text, flags=re.S))
