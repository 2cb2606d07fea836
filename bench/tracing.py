"""``tracing_overhead_ratio``: one Baton agent step with tracing on (spans exported over OTLP/HTTP
to a receiver on loopback) against the same step with tracing off, in the same run.

Both workers run side by side on their own task queues and the runs are interleaved, so machine
drift affects both alike. The receiver is a tiny Starlette app (POST /v1/traces, counts requests
and bytes) served by uvicorn in its own thread, standing in for Jaeger or a collector; the
exporter is the production one (``BatchSpanProcessor`` + ``OTLPSpanExporter``), Temporal's own
spans included (``trace_temporal_spans`` default)."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from baton.telemetry import Tracing
from baton.worker import worker_resources
from bench._env import BenchEnv
from bench.step_overhead import REPEATS, STEPS, baton_steps


@dataclass
class _Received:
    requests: int = 0
    bytes: int = 0


@contextmanager
def otlp_receiver() -> Iterator[tuple[str, _Received]]:
    received = _Received()

    async def traces(request: Request) -> Response:
        body = await request.body()
        received.requests += 1
        received.bytes += len(body)
        # An empty ExportTraceServiceResponse: everything accepted.
        return Response(b"", media_type="application/x-protobuf")

    app = Starlette(routes=[Route("/v1/traces", traces, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, name="otlp-receiver", daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1/traces", received
    finally:
        server.should_exit = True
        thread.join(timeout=5)


async def measure(env: BenchEnv) -> dict[str, dict[str, Any]]:
    off_settings, on_settings = env.settings(), env.settings()
    off: list[float] = []
    on: list[float] = []
    with otlp_receiver() as (endpoint, received):
        tracing = Tracing(processors=[BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint))])
        async with worker_resources(env.client, off_settings, tracing=Tracing()) as plain, \
                worker_resources(env.client, on_settings, tracing=tracing) as traced, \
                plain, traced:
            await baton_steps(env, off_settings.task_queue, 2)  # warm-up both paths
            await baton_steps(env, on_settings.task_queue, 2)
            for _ in range(REPEATS):  # per-step times from the server's history, as there
                off += await baton_steps(env, off_settings.task_queue, STEPS)
                on += await baton_steps(env, on_settings.task_queue, STEPS)
        # worker_resources flushed the exporter on exit: every span reached the receiver.
        exported_kb = received.bytes / 1024
    on_ms, off_ms = statistics.median(on), statistics.median(off)
    return {
        "agent_step_traced_ms": {"value": round(on_ms, 2), "unit": "ms"},
        "agent_step_untraced_ms": {"value": round(off_ms, 2), "unit": "ms"},
        "tracing_overhead_ratio": {"value": round(on_ms / off_ms, 3), "unit": "ratio"},
        "trace_export_kb_per_step": {
            "value": round(exported_kb / ((REPEATS * STEPS) + 2), 2), "unit": "KiB"},
    }
