"""Memory policy and memory records: what a team says about remembering, and what is remembered.

Two tiers, set per agent (or as the team's default) under ``memory:`` in a team YAML
(docs/memory.md):

* **working memory** (one run): when an agent's prompt passes ``summarize_above_tokens``, older
  turns are folded into a summary written by a model (``summarizer``, a cheap profile), the last
  ``keep_recent`` messages stay verbatim;
* **long-term memory** (across runs), kept by the worker's memory store per tenant and subject:
  recalled at the start of a run and by the ``recall`` tool, written by the ``remember`` tool,
  forgotten by TTL per kind, by a cap per scope (least recently used first) and on request.

Pure data and pure functions (no I/O, no clock): the workflow sandbox passes this module through.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "ASK_PERSON",
    "DAY_S",
    "MEMORY_SOURCE",
    "MEMORY_TOOLS",
    "RECALL",
    "REMEMBER",
    "SUMMARY_SOURCE",
    "AskPersonSpec",
    "LongTermMemorySpec",
    "MemoryHit",
    "MemoryKind",
    "MemoryRecord",
    "MemorySpec",
    "RecallRequest",
    "RecallResult",
    "StoreRequest",
    "WorkingMemorySpec",
    "age_text",
    "memory_line",
]

REMEMBER, RECALL = "remember", "recall"  # the built-in memory tools every worker serves
MEMORY_TOOLS = frozenset({REMEMBER, RECALL})
ASK_PERSON = "ask_person"  # the question gate's name in approvals (`baton approvals` lists it)
MEMORY_SOURCE = "memory"  # UserMessage.source of the memories injected at a run's start
SUMMARY_SOURCE = "summary"  # UserMessage.source of a working-memory summary
DAY_S = 86_400.0


class _Spec(BaseModel):
    # Part of a team spec: wire-tolerant like every spec; the loader refuses unknown keys.
    model_config = ConfigDict(extra="ignore", frozen=True)


class WorkingMemorySpec(_Spec):
    """Summarise older turns of one run once the prompt passes ``summarize_above_tokens``."""

    summarize_above_tokens: int = Field(ge=256)
    keep_recent: int = Field(default=6, ge=2, le=200)  # messages kept verbatim after a summary
    summarizer: str | None = None  # a model profile; default: the agent's own
    summary_max_tokens: int = Field(default=512, ge=32, le=8192)


class MemoryKind(_Spec):
    ttl_s: float | None = Field(default=None, gt=0)  # None: kept until evicted or forgotten


class AskPersonSpec(_Spec):
    """The question gate of ``on_nothing_recalled: ask_person``: who is asked, how long the
    question stays open, and as which kind of memory the answer is kept."""

    approvers: tuple[str, ...] = ()  # people or groups; empty: anyone who may decide
    expires_in_s: float | None = Field(default=3600.0, gt=0)
    kind: str | None = None  # the kind the answer is kept as; default: the policy's default


def _default_kinds() -> dict[str, MemoryKind]:
    return {"preference": MemoryKind(ttl_s=365 * DAY_S), "fact": MemoryKind(ttl_s=90 * DAY_S),
            "note": MemoryKind(ttl_s=30 * DAY_S)}


class LongTermMemorySpec(_Spec):
    """What an agent remembers across runs, and when it stops trusting or keeping it.

    ``scope``: ``subject`` keeps memories per tenant and the run's subject (a customer, a
    repository; a run without one shares the tenant's subject-less memories), ``tenant`` per
    tenant only. ``max_age_s``: recalled memories older than this are not relied on; the agent
    is told so, and ``on_nothing_recalled`` decides whether a person is asked."""

    scope: Literal["subject", "tenant"] = "subject"
    inject_top_k: int = Field(default=3, ge=0, le=20)  # memories put in the prompt at the start
    # Kinds injected at the start whatever the task says (a customer's preferences always are
    # relevant to serving that customer), within inject_top_k, after the relevant ones.
    always_inject: tuple[str, ...] = ()
    max_age_s: float | None = Field(default=None, gt=0)
    on_nothing_recalled: Literal["tell", "ask_person"] = "tell"
    ask: AskPersonSpec = AskPersonSpec()
    kinds: dict[str, MemoryKind] = Field(default_factory=_default_kinds)
    default_kind: str = "fact"
    max_per_scope: int = Field(default=500, ge=1, le=100_000)  # then least recently used go
    min_similarity: float = Field(default=0.2, ge=0, le=1)  # embeddings: below it, not relevant

    @model_validator(mode="after")
    def _kinds_exist(self) -> LongTermMemorySpec:
        named = [("default_kind", self.default_kind), ("ask.kind", self.answer_kind),
                 *(("always_inject", kind) for kind in self.always_inject)]
        for what, kind in named:
            if kind not in self.kinds:
                raise ValueError(f"{what} {kind!r} is not one of the kinds {sorted(self.kinds)}")
        return self

    @property
    def answer_kind(self) -> str:
        """The kind a person's answer is kept as."""
        return self.ask.kind or self.default_kind

    def scope_subject(self, run_subject: str | None) -> str:
        """The subject memories are kept under for a run about ``run_subject``."""
        return (run_subject or "") if self.scope == "subject" else ""

    def ttl_s(self, kind: str) -> float | None:
        found = self.kinds.get(kind)
        return found.ttl_s if found is not None else None


class MemorySpec(_Spec):
    working: WorkingMemorySpec | None = None
    long_term: LongTermMemorySpec | None = None


# -- records and activity payloads ------------------------------------------------------------
class _Payload(BaseModel):
    # Wire payloads: unknown fields are ignored, so neighbouring versions read each other's.
    model_config = ConfigDict(extra="ignore", frozen=True)


class MemoryRecord(_Payload):
    """One remembered thing. ``source_run`` is the run that learned it (``baton show`` it)."""

    id: str
    tenant: str
    subject: str = ""  # "" for tenant-wide memories
    kind: str
    text: str
    source_run: str
    source_agent: str = ""
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime | None = None
    uses: int = 0


class MemoryHit(_Payload):
    record: MemoryRecord
    score: float  # higher is more relevant (text rank, cosine similarity or their fusion)
    age_s: float  # at recall time
    stale: bool = False  # older than the policy's max_age_s


class RecallRequest(_Payload):
    tenant: str
    subject: str = ""
    query: str
    limit: int = Field(default=3, ge=1, le=50)
    max_age_s: float | None = None
    min_similarity: float = 0.2
    always_kinds: tuple[str, ...] = ()  # also these kinds, relevant or not, most recent first


class RecallResult(_Payload):
    hits: list[MemoryHit] = Field(default_factory=list)  # fresh and relevant, best first
    stale: list[MemoryHit] = Field(default_factory=list)  # relevant but older than max_age_s
    mode: Literal["text", "hybrid"] = "text"  # hybrid: text search fused with embeddings


class StoreRequest(_Payload):
    """Keep one memory (an upsert by ``id``, so a retried activity stores it once)."""

    id: str
    tenant: str
    subject: str = ""
    kind: str
    text: str
    source_run: str
    source_agent: str = ""
    ttl_s: float | None = None
    max_per_scope: int = 500


def age_text(seconds: float) -> str:
    """``just now``, ``5 min ago``, ``3 h ago``, ``12 days ago``: how old a memory is."""
    if seconds < 60:
        return "just now"
    for unit, size in (("day", DAY_S), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if unit == 'day' and count != 1 else ''} ago"
    return "just now"


def memory_line(hit: MemoryHit) -> str:
    """One memory as an agent reads it: kind, where it came from, how old it is, the text."""
    record = hit.record
    note = ", older than the policy allows" if hit.stale else ""
    return (f"- [{record.kind}, from run {record.source_run}, {age_text(hit.age_s)}{note}] "
            f"{' '.join(record.text.split())}")
