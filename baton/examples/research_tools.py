"""Read-only tools over the small offline corpus in ``baton/examples/corpus`` (guides and
postmortems about durable execution), for the research fan-out example.

Search is plain word overlap (a word matches another when they share their first five letters,
so "retries" finds "retry"); results carry the two most relevant sentences as a passage, so an
agent can cite them without reading the whole document. Every tool only reads files: they are
cacheable.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from baton.tools import tool

__all__ = ["read_document", "search_corpus", "search_guides", "search_postmortems"]

CORPUS_DIR = Path(__file__).parent / "corpus"
_STOP = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how",
    "in", "is", "it", "of", "on", "or", "the", "to", "what", "when", "where", "which", "who",
    "why", "with", "without", "we", "our"})
_MAX_RESULTS = 5


def _stems(text: str) -> set[str]:
    return {w[:5] for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP and len(w) > 1}


def _documents(collection: str) -> list[tuple[str, str, str]]:
    """(document_id, title, body) of a collection ("all" for every one), sorted by id."""
    folders = sorted(p for p in CORPUS_DIR.iterdir() if p.is_dir())
    out = []
    for folder in folders:
        if collection not in ("all", folder.name):
            continue
        for path in sorted(folder.glob("*.md")):
            text = path.read_text(encoding="utf-8")
            title, _, body = text.partition("\n")
            out.append((f"{folder.name}/{path.stem}", title.lstrip("# ").strip(), body.strip()))
    return out


def _sentences(body: str) -> list[str]:
    flat = " ".join(body.split())
    return [s for s in re.split(r"(?<=[.!?])\s+", flat) if s]


def _search(query: str, collection: str, limit: int) -> list[dict[str, Any]]:
    wanted = _stems(query)
    if not wanted:
        raise ValueError("the query has no searchable words; describe what you are looking for")
    ranked = []
    for doc_id, title, body in _documents(collection):
        score = 3 * len(_stems(title) & wanted) + len(_stems(body) & wanted)
        if score:
            sentences = _sentences(body)
            best = sorted(range(len(sentences)),
                          key=lambda i: (-len(_stems(sentences[i]) & wanted), i))[:2]
            passage = " ".join(sentences[i] for i in sorted(best))
            ranked.append((-score, doc_id, {"document_id": doc_id, "title": title,
                                            "score": score, "passage": passage}))
    ranked.sort(key=lambda item: (item[0], item[1]))
    return [hit for _, _, hit in ranked[: min(max(limit, 1), _MAX_RESULTS)]]


@tool(cacheable=True, cache_ttl_s=600.0, timeout_s=10.0)
def search_corpus(query: str, limit: int = 3) -> list[dict[str, Any]]:
    """Search all research documents (engineering guides and incident postmortems about
    workflows, retries, crashes, duplicate side effects and durable execution); returns
    document ids, titles and the most relevant passage.

    Args:
        query: What to look for, in plain words.
        limit: How many documents to return (1 to 5).
    """
    return _search(query, "all", limit)


@tool(cacheable=True, cache_ttl_s=600.0, timeout_s=10.0)
def search_guides(query: str, limit: int = 3) -> list[dict[str, Any]]:
    """Search the engineering guides on durable workflow engines (retries, idempotency, side
    effects, crashes, replay, sagas); returns document ids, titles and the best passage.

    Args:
        query: What to look for, in plain words.
        limit: How many documents to return (1 to 5).
    """
    return _search(query, "guides", limit)


@tool(cacheable=True, cache_ttl_s=600.0, timeout_s=10.0)
def search_postmortems(query: str, limit: int = 3) -> list[dict[str, Any]]:
    """Search incident postmortems (outages, duplicate side effects, crashes, retry storms in
    workflow engines and workers); returns document ids, titles and the best passage.

    Args:
        query: What to look for, in plain words.
        limit: How many documents to return (1 to 5).
    """
    return _search(query, "postmortems", limit)


@tool(cacheable=True, cache_ttl_s=600.0, timeout_s=10.0)
def read_document(document_id: str) -> dict[str, str]:
    """Read one research document in full by its id (as returned by a search, e.g.
    guides/idempotency-keys).

    Args:
        document_id: The document id, "<collection>/<name>".
    """
    for doc_id, title, body in _documents("all"):
        if doc_id == document_id.strip().removesuffix(".md"):
            return {"document_id": doc_id, "title": title, "text": " ".join(body.split())}
    known = ", ".join(d for d, _, _ in _documents("all"))
    raise LookupError(f"no document {document_id!r}; known documents: {known}")
