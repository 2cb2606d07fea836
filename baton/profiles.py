"""Model profiles: ``ModelProfile``, how a worker reaches one model (worker configuration),
and ``ServedProfile``, what a run plans with and records of it (everything but the connection).

Pure data, re-exported by ``baton.specs``; the sandbox passes this module through as it does
that one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from baton.messages import CompactModel, Usage

__all__ = ["ModelProfile", "ServedProfile"]


class ServedProfile(CompactModel):
    """A model profile as the workflow plans with it: which model, how long a call may take, how
    often it is retried, what it costs and where to fail over. Where and how the worker connects
    (``ModelProfile.base_url``, ``api_key_env``) never enters a run."""

    # Wire payload: an older worker must still decode a profile a newer one added fields to.
    model_config = ConfigDict(extra="ignore", frozen=True)

    provider: Literal["openai", "anthropic"] = "openai"
    model: str = "baton-scripted"
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
    max_output_tokens: int = Field(default=1024, gt=0)
    temperature: float | None = Field(default=None, ge=0, le=2)
    price_input_per_mtok: float = Field(default=0.0, ge=0)
    price_output_per_mtok: float = Field(default=0.0, ge=0)
    # Prompt-cache prices; None: the input price (reads and writes are then not cheaper).
    price_cache_read_per_mtok: float | None = Field(default=None, ge=0)
    price_cache_write_per_mtok: float | None = Field(default=None, ge=0)
    max_attempts: int = Field(default=6, ge=1, le=100)  # retries before failing over / failing
    fallback: str | None = None  # profile to fail over to once max_attempts are used up
    failover_on_quota: bool = True  # out of credit: fail over (once) instead of failing
    # How an output schema is asked for: the API's JSON-schema mode, its JSON mode, or only the
    # schema in the prompt (servers that answer 500 to json_schema: llama.cpp, older vLLM).
    structured_output: Literal["json_schema", "json_object", "prompt"] = "json_schema"
    prompt_caching: bool = True  # Anthropic: cache_control on system prompt, tools, conversation
    # Calls per second across every worker of the fleet: this profile's calls then go through a
    # task queue of their own, which the Temporal server rate-limits (see rate_limited_queue).
    max_requests_per_second: float | None = Field(default=None, gt=0)

    def cost_usd(self, input_tokens: int | Usage, output_tokens: int = 0) -> float:
        """USD of a call: cached reads and writes at their prices, the rest of the prompt at
        the input price. Takes a ``Usage`` (or the input and output token counts)."""
        usage = input_tokens if isinstance(input_tokens, Usage) else Usage(
            input_tokens=input_tokens, output_tokens=output_tokens)
        read, write = usage.cache_read_tokens, usage.cache_write_tokens
        fresh = max(0, usage.input_tokens - read - write)
        price_in = self.price_input_per_mtok
        return (fresh * price_in + usage.output_tokens * self.price_output_per_mtok
                + read * _or(self.price_cache_read_per_mtok, price_in)
                + write * _or(self.price_cache_write_per_mtok, price_in)) / 1_000_000


def _or(price: float | None, default: float) -> float:
    return default if price is None else price


class ModelProfile(ServedProfile):
    """How the worker reaches one model: worker configuration (``[profiles.NAME]`` in
    ``baton.toml`` or ``BATON_PROFILES__NAME__*``), never run input. ``base_url`` None means the
    embedded scripted model server the worker was configured with; ``api_key_env`` names an
    environment variable of the worker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str | None = None
    api_key_env: str | None = None

    def served(self) -> ServedProfile:
        """What a run records of this profile: everything but the connection."""
        return ServedProfile.model_validate(self.model_dump(exclude={"base_url", "api_key_env"}))
