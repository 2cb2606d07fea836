"""``make bench-peers``: Baton and its peers in one run, on one dev server and one scripted model
server; writes the ``peer_*`` figures into bench/results.json and the peers' table into the
README.

For each peer: stored bytes after 100 and 300 steps (Temporal history summed over every run of
the workflow, or the checkpoint database), per-step latency (median of repeated short runs,
interleaved across peers, every worker warm), and, for the Temporal-based ones, how often a
write tool's side effect happened when its worker was SIGKILLed during the tool call.

Every Temporal-based peer's worker runs as its own process (``bench.peers.worker``), Baton's
too, so all are measured alike and any of them can be killed.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import uuid
from contextlib import AsyncExitStack
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import ModuleType
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError

from baton.runs import RunResult, RunStatus
from bench import _results
from bench._env import BenchEnv, bench_env
from bench.peers import _common, _loop, baton, langgraph, openai_agents, pydantic_ai

TEMPORAL_PEERS: list[ModuleType] = [baton, openai_agents, pydantic_ai]
ALL_PEERS: list[ModuleType] = [*TEMPORAL_PEERS, langgraph]
STEP_COUNTS = [int(n) for n in os.environ.get("BATON_BENCH_PEERS_STEPS", "100,300").split(",")]
LATENCY_STEPS = int(os.environ.get("BATON_BENCH_PEERS_LATENCY_STEPS", "30"))
REPEATS = int(os.environ.get("BATON_BENCH_PEERS_REPEATS", "3"))
HISTORY_LIMIT_BYTES = 50 * 1024 * 1024  # Temporal's default per-workflow history size limit
RUN_TIMEOUT_S = float(os.environ.get("BATON_BENCH_PEERS_RUN_TIMEOUT_S", "900"))


class Harness:
    """The environment plus one warm worker process per Temporal-based peer."""

    def __init__(self, env: BenchEnv, root: Path) -> None:
        self.env, self.root = env, root
        self.address = env.client.service_client.config.target_host
        self.tag = uuid.uuid4().hex[:6]
        self.queues = {p.NAME: f"peers-{p.NAME}-{self.tag}" for p in TEMPORAL_PEERS}

    @property
    def client(self) -> Client:
        return self.env.client

    def worker(self, peer: ModuleType, queue: str, label: str) -> _common.WorkerProcess:
        home = self.root / f"{peer.NAME}-{label}"
        home.mkdir(parents=True, exist_ok=True)
        return _common.WorkerProcess(
            f"{peer.NAME}-{label}",
            [sys.executable, "-m", "bench.peers.worker", peer.NAME, self.address, queue],
            self.root / f"worker-{peer.NAME}-{label}.log",
            {_loop.MODEL_URL_ENV: self.env.scripted.base_url,
             _loop.EFFECTS_ENV: str(home / "effects.txt"),
             "BATON_HOME": str(home),
             "OPENAI_AGENTS_DISABLE_TRACING": "1"}).start()

    def script(self, peer: ModuleType, workflow_id: str, steps: list[dict[str, Any]]) -> str:
        """Script the model for one run; the scripted server's key for that run."""
        if peer is baton:
            self.env.scripted.set_script(workflow_id, {baton.AGENT: steps})
            return workflow_id
        self.env.scripted.set_script(_loop.UNATTRIBUTED, {_loop.UNATTRIBUTED: steps})
        return _loop.UNATTRIBUTED

    async def start(self, peer: ModuleType, queue: str, workflow_id: str, steps: int,
                    write_tool: str = "record_payment") -> Any:
        arg = baton.run_input(steps, write_tool) if peer is baton else _loop.PROMPT
        return await self.client.start_workflow(
            peer.WORKFLOW, arg, id=workflow_id, task_queue=queue,
            result_type=RunResult if peer is baton else str)

    async def finish(self, peer: ModuleType, handle: Any) -> None:
        if peer is baton:
            result = await asyncio.wait_for(handle.result(), RUN_TIMEOUT_S)
            assert result.status is RunStatus.COMPLETED, result
        else:
            answer = await asyncio.wait_for(handle.result(), RUN_TIMEOUT_S)
            assert answer, f"{peer.NAME}: empty answer"

    async def loop(self, peer: ModuleType, steps: int) -> tuple[str, float, int]:
        """One ``steps``-step run: its workflow id, wall seconds, and the steps it made, which
        are fewer only when the server terminated it at the history size limit."""
        workflow_id = f"peers-{peer.NAME}-{steps}-{uuid.uuid4().hex[:6]}"
        key = self.script(peer, workflow_id, _loop.loop_script(steps))
        started = time.perf_counter()
        handle = await self.start(peer, self.queues[peer.NAME], workflow_id, steps)
        try:
            await self.finish(peer, handle)
        except WorkflowFailureError:
            if (await handle.describe()).status is not WorkflowExecutionStatus.TERMINATED:
                raise
            # Model calls made = steps reached (the last one's tool call may not have run).
            made = steps + 1 - sum(self.env.scripted.leftovers(key).values())
            return workflow_id, time.perf_counter() - started, made
        elapsed = time.perf_counter() - started
        if left := self.env.scripted.leftovers(key):  # every scripted step was asked for
            raise AssertionError(f"{peer.NAME}: {left} scripted steps never used")
        return workflow_id, elapsed, steps

    async def kill_test(self, peer: ModuleType, tool: str = "record_payment") -> dict[str, Any]:
        """A write tool commits its effect and keeps working; its worker is SIGKILLed then, a new
        one takes over. The run must finish; the effect file says how often the tool acted."""
        label = f"kill-{tool}"
        queue = f"peers-{label}-{peer.NAME}-{self.tag}"
        effects_file = self.root / f"{peer.NAME}-{label}" / "effects.txt"
        first = self.worker(peer, queue, label)
        second: _common.WorkerProcess | None = None
        try:
            await first.wait_polling(self.client, queue)
            workflow_id = f"peers-kill-{peer.NAME}-{uuid.uuid4().hex[:6]}"
            self.script(peer, workflow_id, _loop.write_script(tool))
            started = time.perf_counter()
            handle = await self.start(peer, queue, workflow_id, 2, tool)
            deadline = time.monotonic() + 60
            while not _common.effects(effects_file):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{peer.NAME}: the write tool never ran:\n{first.tail()}")
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # well inside the tool's 3 s of work after its commit
            first.kill()
            second = self.worker(peer, queue, label)
            await second.wait_polling(self.client, queue)
            await self.finish(peer, handle)
            lines = _common.effects(effects_file)
            return {"effects": len(lines), "duplicates": len(lines) - 1,
                    "recovery_s": time.perf_counter() - started, "lines": lines}
        finally:
            first.stop()
            if second is not None:
                second.stop()


def _versions() -> dict[str, str]:
    found: dict[str, str] = {}
    for package in ["temporalio", *(p for peer in ALL_PEERS for p in peer.PACKAGES)]:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "?"
    return found


def _limit_steps(sizes: dict[int, int]) -> int | None:
    """Steps until the history limit, from a quadratic fit through two measured sizes (None
    when the growth is not quadratic, e.g. Baton's continue-as-new)."""
    if len(sizes) < 2:
        return None
    (n1, s1), (n2, s2) = sorted(sizes.items())[-2:]
    a = (s2 / n2 - s1 / n1) / (n2 - n1)
    b = s1 / n1 - a * n1
    if a <= 0:
        return None
    return int((-b + (b * b + 4 * a * HISTORY_LIMIT_BYTES) ** 0.5) / (2 * a))


async def measure(env: BenchEnv, root: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    harness = Harness(env, root)
    stored: dict[str, dict[int, int]] = {p.NAME: {} for p in ALL_PEERS}
    per_step_at: dict[str, dict[int, float]] = {p.NAME: {} for p in ALL_PEERS}
    latency: dict[str, list[float]] = {p.NAME: [] for p in ALL_PEERS}
    died: dict[str, dict[int, int]] = {p.NAME: {} for p in ALL_PEERS}  # steps → steps made
    notes: dict[str, Any] = {}
    async with AsyncExitStack() as stack:
        for peer in TEMPORAL_PEERS:
            proc = harness.worker(peer, harness.queues[peer.NAME], "loop")
            stack.callback(proc.stop)
            await proc.wait_polling(harness.client, harness.queues[peer.NAME])
        for peer in TEMPORAL_PEERS:  # warm-up
            await harness.loop(peer, 2)
        for peer in TEMPORAL_PEERS:
            for steps in STEP_COUNTS:
                workflow_id, elapsed, made = await harness.loop(peer, steps)
                stored[peer.NAME][steps] = await _common.history_bytes(harness.client,
                                                                       workflow_id)
                per_step_at[peer.NAME][steps] = elapsed / made
                if made < steps:
                    died[peer.NAME][steps] = made
                notes[f"{peer.NAME}_{steps}_largest_events"] = await _common.largest_events(
                    harness.client, workflow_id)
                print(f"{peer.NAME}: {steps} steps ({made} made), {stored[peer.NAME][steps]} "
                      f"bytes, {elapsed / made * 1000:.1f} ms/step", flush=True)
        for _ in range(REPEATS):  # interleaved, so drift in the machine affects every peer alike
            for peer in TEMPORAL_PEERS:
                _, elapsed, _ = await harness.loop(peer, LATENCY_STEPS)
                latency[peer.NAME].append(elapsed / LATENCY_STEPS)
    model_url = env.scripted.base_url
    for steps in STEP_COUNTS:
        harness.script(langgraph, "", _loop.loop_script(steps))
        size, elapsed = await langgraph.run_loop(model_url, root / f"langgraph-{steps}.sqlite",
                                                 steps)
        stored[langgraph.NAME][steps], per_step_at[langgraph.NAME][steps] = size, elapsed / steps
        print(f"langgraph: {steps} steps, {size} bytes, {elapsed / steps * 1000:.1f} ms/step",
              flush=True)
    for i in range(REPEATS):
        harness.script(langgraph, "", _loop.loop_script(LATENCY_STEPS))
        _, elapsed = await langgraph.run_loop(model_url, root / f"langgraph-latency-{i}.sqlite",
                                              LATENCY_STEPS)
        latency[langgraph.NAME].append(elapsed / LATENCY_STEPS)
    kills: dict[str, dict[str, Any]] = {}
    for peer in TEMPORAL_PEERS:
        kills[peer.NAME] = await harness.kill_test(peer)
        print(f"{peer.NAME}: kill test {kills[peer.NAME]}", flush=True)
    kills["baton_keyless"] = await harness.kill_test(baton, "record_payment_keyless")
    print(f"baton, key unused: kill test {kills['baton_keyless']}", flush=True)
    notes["kill_tests"] = kills
    return _figures(stored, died, per_step_at, latency, kills), notes


def _figures(stored: dict[str, dict[int, int]], died: dict[str, dict[int, int]],
             per_step_at: dict[str, dict[int, float]], latency: dict[str, list[float]],
             kills: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    figures: dict[str, dict[str, Any]] = {}
    top = max(STEP_COUNTS)
    step_ms = {name: statistics.median(times) * 1000 for name, times in latency.items()}
    for peer in ALL_PEERS:
        name = peer.NAME
        where = "bytes (SQLite checkpoint database)" if peer is langgraph else (
            "bytes (Temporal history, all runs)")
        for steps in STEP_COUNTS:
            cut = died[name].get(steps)
            figures[f"peer_stored_bytes_{steps}_{name}"] = {"value": stored[name][steps], "unit": (
                where if cut is None else f"{where}; terminated at the history size limit after "
                f"{cut} of {steps} steps: a lower bound")}
        if peer is not baton:
            figures[f"peer_storage_ratio_{name}"] = {
                "value": round(stored[name][top] / stored[baton.NAME][top], 1),
                "unit": f"ratio (stored bytes at {top} steps / Baton's"
                        + (", a lower bound: the peer's run died)" if top in died[name] else ")")}
        figures[f"peer_step_ms_{name}"] = {
            "value": round(step_ms[name], 2),
            "unit": f"ms ({LATENCY_STEPS}-step runs, median of {REPEATS})"}
        figures[f"peer_step_ms_at_{top}_{name}"] = {
            "value": round(per_step_at[name][top] * 1000, 2), "unit": f"ms (the {top}-step run"
            + (f", until it died after {died[name][top]} steps)" if top in died[name] else ")")}
        if peer in TEMPORAL_PEERS:
            figures[f"peer_duplicate_effects_{name}"] = {
                "value": kills[name]["duplicates"],
                "unit": "extra side effects (worker SIGKILLed during the write tool)"}
            if peer is baton:
                figures["peer_duplicate_effects_key_unused_baton"] = {
                    "value": kills["baton_keyless"]["duplicates"],
                    "unit": "extra side effects (the same, the tool ignoring ctx.idempotency_key)"}
            if died[name]:
                figures[f"peer_steps_before_history_limit_{name}"] = {
                    "value": min(died[name].values()),
                    "unit": "steps (measured: the server terminated the run at the limit)"}
            elif peer is not baton and (limit := _limit_steps(stored[name])) is not None:
                figures[f"peer_steps_before_history_limit_{name}"] = {
                    "value": limit, "unit": "steps (extrapolated: quadratic fit of "
                    f"{' and '.join(map(str, STEP_COUNTS[-2:]))})"}
    fastest = min(step_ms[p.NAME] for p in TEMPORAL_PEERS if p is not baton)
    figures["peer_step_latency_ratio_baton"] = {
        "value": round(step_ms[baton.NAME] / fastest, 3),
        "unit": "ratio (Baton's per-step latency / the fastest Temporal-based peer's)"}
    return figures


def _fmt_bytes(value: int) -> str:
    return f"{value / 2**20:.2f} MB" if value >= 2**20 else f"{value / 1024:.0f} KB"


def _table(figures: dict[str, dict[str, Any]], versions: dict[str, str],
           load: tuple[str, str]) -> list[str]:
    top = max(STEP_COUNTS)
    sizes = " | ".join(f"stored at {n} steps" for n in STEP_COUNTS)
    lines = [f"| peer | versions | {sizes} | × Baton at {top} | ms/step "
             f"({LATENCY_STEPS} steps) | ms/step ({top} steps) | duplicated side effects "
             "| reaches 50 MB after |",
             "|---|---|" + "---|" * (len(STEP_COUNTS) + 5)]
    for peer in ALL_PEERS:
        name = peer.NAME
        got = {k.removeprefix("peer_").removesuffix(f"_{name}"): f
               for k, f in figures.items() if k.endswith(f"_{name}")}

        def value(key: str, got: dict[str, dict[str, Any]] = got) -> Any:
            return got[key]["value"]

        def bound(key: str, got: dict[str, dict[str, Any]] = got) -> str:
            return "≥ " if "lower bound" in got[key]["unit"] else ""

        pinned = ", ".join(f"{p} {versions[p]}" for p in peer.PACKAGES)
        if peer is baton:
            pinned += f" (temporalio {versions['temporalio']})"
            duplicates = (f"{value('duplicate_effects')} ({value('duplicate_effects_key_unused')}"
                          " if the tool ignores its idempotency key)")
            limit = "never (continues as new)"
        else:
            duplicates = str(value("duplicate_effects")) if "duplicate_effects" in got else (
                "n/a (no Temporal)")
            limit = "n/a" if "steps_before_history_limit" not in got else (
                f"died after {value('steps_before_history_limit')} steps"
                if "measured" in got["steps_before_history_limit"]["unit"]
                else f"~{value('steps_before_history_limit')} steps (extrapolated)")
        cells = [peer.TITLE, pinned,
                 *(bound(f"stored_bytes_{n}") + _fmt_bytes(value(f"stored_bytes_{n}"))
                   for n in STEP_COUNTS),
                 "1" if peer is baton else f"{bound('storage_ratio')}{value('storage_ratio')}",
                 f"{value('step_ms')}", f"{value(f'step_ms_at_{top}')}", duplicates, limit]
        lines.append("| " + " | ".join(cells) + " |")
    ratio = figures["peer_step_latency_ratio_baton"]["value"]
    lines += ["", f"Baton's per-step latency / the fastest Temporal-based peer's: {ratio}. "
              f"Load average (1 min) before / after: {load[0]} / {load[1]} on "
              f"{os.cpu_count()} cores."]
    return lines


def _load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


async def main() -> None:
    import tempfile

    load_before, started = _load(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="baton-peers-") as tmp:
        async with bench_env() as env:
            figures, notes = await measure(env, Path(tmp))
    load = (load_before, _load())
    versions = _versions()
    _results.write_results(
        figures, keep=lambda n: not n.startswith(_results.PEER_PREFIX),
        peers={"measured_at": _results.now(), "machine": _results.machine(),
               "versions": versions, "load_average_1m": {"before": load[0], "after": load[1]},
               "wall_s": round(time.perf_counter() - started, 1),
               "largest_history_events": {k: v for k, v in notes.items()
                                          if k.endswith("_largest_events")},
               "kill_tests": notes["kill_tests"]})
    table = _table(figures, versions, load)
    _results.replace_block("bench-peers", table)
    print("\n".join(table))


if __name__ == "__main__":
    asyncio.run(main())
