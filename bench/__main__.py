"""``make bench``: run every benchmark in one environment, write bench/results.json and the
README table."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from bench import (
    _results,
    events,
    fanout,
    floor,
    history,
    memory,
    prompt_cache,
    step_overhead,
    throughput,
    tracing,
)
from bench._env import bench_env

BENCHMARKS = {"floor": floor, "step_overhead": step_overhead, "history": history,
              "tracing": tracing, "fanout": fanout, "throughput": throughput,
              "prompt_cache": prompt_cache, "memory": memory, "events": events}


async def main() -> None:
    # BATON_BENCH_ONLY=fanout,history runs a subset (and merges into the existing results).
    only = [n for n in os.environ.get("BATON_BENCH_ONLY", "").split(",") if n] or list(BENCHMARKS)
    figures: dict[str, dict[str, Any]] = {}
    async with bench_env() as env:
        for name in only:
            figures.update(await BENCHMARKS[name].measure(env))
    # A subset merges into the existing figures; the peers' figures (make bench-peers) stay.
    subset = len(only) < len(BENCHMARKS)
    figures = _results.write_results(
        figures, keep=lambda n: subset or n.startswith(_results.PEER_PREFIX),
        measured_at=_results.now(), machine=_results.machine())
    table = ["| figure | value | unit |", "|---|---|---|"] + [
        f"| `{name}` | {fig['value']} | {fig['unit']} |" for name, fig in figures.items()
        if not name.startswith(_results.PEER_PREFIX)]
    _results.replace_block("bench", table)
    print("\n".join(table))


if __name__ == "__main__":
    asyncio.run(main())
