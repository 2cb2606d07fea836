"""Which embedded store a URL names: ``sqlite://PATH`` (one host) or ``postgresql://...`` (any
hosts). The tool ledger and the memory store are configured the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

__all__ = ["store_kind"]


def store_kind(url: str, what: str) -> tuple[Literal["sqlite", "postgresql"], Path | str]:
    """``("sqlite", path)`` or ``("postgresql", url)``; ``what`` names the setting in errors."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"{what} URL {url!r} has no scheme; use sqlite://PATH or postgresql://...")
    if scheme == "sqlite":
        return "sqlite", Path(rest)
    if scheme in ("postgresql", "postgres"):
        return "postgresql", url
    raise ValueError(f"{what} URL scheme {scheme!r} is not supported; use sqlite or postgresql")
