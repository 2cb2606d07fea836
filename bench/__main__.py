"""``make bench``: run every benchmark in one environment, write bench/results.json and the
README table."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import fanout, floor, history, prompt_cache, step_overhead, throughput, tracing
from bench._env import bench_env

ROOT = Path(__file__).parent.parent
RESULTS = Path(__file__).parent / "results.json"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


BENCHMARKS = {"floor": floor, "step_overhead": step_overhead, "history": history,
              "tracing": tracing, "fanout": fanout, "throughput": throughput,
              "prompt_cache": prompt_cache}


async def main() -> None:
    # BATON_BENCH_ONLY=fanout,history runs a subset (and merges into the existing results).
    only = [n for n in os.environ.get("BATON_BENCH_ONLY", "").split(",") if n] or list(BENCHMARKS)
    figures: dict[str, dict[str, Any]] = {}
    if RESULTS.exists() and len(only) < len(BENCHMARKS):
        figures = json.loads(RESULTS.read_text())["figures"]
    async with bench_env() as env:
        for name in only:
            figures.update(await BENCHMARKS[name].measure(env))
    RESULTS.write_text(json.dumps({
        "figures": figures,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.python_implementation()} "
                   f"{platform.python_version()}",
    }, indent=2) + "\n")
    table = ["| figure | value | unit |", "|---|---|---|"] + [
        f"| `{name}` | {fig['value']} | {fig['unit']} |" for name, fig in figures.items()]
    readme = ROOT / "README.md"
    text = readme.read_text() if readme.exists() else ""
    if START in text:
        text = re.sub(f"{START}.*?{END}", f"{START}\n" + "\n".join(table) + f"\n{END}", text,
                      flags=re.S)
        readme.write_text(text)
    print("\n".join(table))


if __name__ == "__main__":
    asyncio.run(main())
