"""Embeddings from an OpenAI-compatible ``/v1/embeddings`` endpoint, for recall by meaning.

Optional: with ``embeddings`` unset in the worker's configuration, recall is text search alone.
With it set, every memory is embedded when it is kept and every recall query when it is asked,
and the two rankings are fused (:func:`fuse`). The endpoint is the worker's configuration, like
a model profile's: OpenAI, vLLM, Ollama, LiteLLM, or the scripted server's deterministic one.
"""

from __future__ import annotations

import math
import os

import httpx

from baton.settings import EmbeddingsSettings

__all__ = ["Embedder", "cosine", "fuse"]


class Embedder:
    """Embeds texts through one endpoint; ``http`` is the worker's pooled client (or its own)."""

    def __init__(self, config: EmbeddingsSettings, *, base_url: str,
                 http: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self.base_url = (config.base_url or base_url).rstrip("/")
        self.http = http

    async def embed(self, texts: list[str]) -> list[list[float]]:
        headers = {}
        if self.config.api_key_env:
            key = os.environ.get(self.config.api_key_env)
            if not key:
                raise RuntimeError(f"environment variable {self.config.api_key_env} (the "
                                   "embeddings endpoint's key) is not set on this worker")
            headers["Authorization"] = f"Bearer {key}"
        body = {"model": self.config.model, "input": texts}
        if self.http is None:
            async with httpx.AsyncClient() as http:
                response = await http.post(f"{self.base_url}/embeddings", json=body,
                                           headers=headers, timeout=self.config.timeout_s)
        else:
            response = await self.http.post(f"{self.base_url}/embeddings", json=body,
                                            headers=headers, timeout=self.config.timeout_s)
        response.raise_for_status()
        data = sorted(response.json()["data"], key=lambda item: item["index"])
        return [[float(x) for x in item["embedding"]] for item in data]


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def fuse(*rankings: list[str], k: float = 60.0) -> dict[str, float]:
    """Reciprocal rank fusion: each id scores ``1 / (k + rank)`` in every ranking it is in.
    Text ranks and cosine similarities are not on one scale; their orders are."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    return scores
