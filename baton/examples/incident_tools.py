"""Offline incident data for the blackboard example: current alerts per service and a small
runbook library matched by symptoms. Read-only and deterministic."""

from __future__ import annotations

from typing import Any, Literal

from baton.tools import tool

__all__ = ["fetch_alerts", "search_runbooks"]

_ALERTS: dict[str, list[str]] = {
    "checkout": [
        "checkout p99 latency 12.4 s (threshold 2 s) since 14:05",
        "HTTP 502 rate 18% on /api/checkout",
        "orders-db connection pool exhausted: 100/100 connections in use",
    ],
    "search": ["search p95 latency 900 ms (threshold 500 ms)"],
    "payments": ["payment provider returned HTTP 503 for 4% of calls"],
}
_RUNBOOKS: tuple[dict[str, Any], ...] = (
    {"runbook": "RB-12 database connection exhaustion",
     "match": ("connection", "pool", "exhausted", "database", "db"),
     "diagnosis": "The orders database connection pool is exhausted: requests wait for a free "
                  "connection, time out, and the gateway answers 502.",
     "remediation": ["Raise the pool limit temporarily and restart the stuck checkout pods",
                     "Find and kill long-running queries holding connections",
                     "Add a pool-saturation alert at 80% and fix the connection leak"]},
    {"runbook": "RB-07 upstream provider errors",
     "match": ("503", "provider", "upstream", "payment"),
     "diagnosis": "An upstream provider is failing; retries without backoff amplify the load.",
     "remediation": ["Enable exponential backoff with jitter for provider calls",
                     "Fail over to the secondary provider", "Tell support about delayed payments"]},
    {"runbook": "RB-03 slow responses",
     "match": ("latency", "slow", "timeout"),
     "diagnosis": "A dependency is slow; check recent deploys and saturated resources.",
     "remediation": ["Roll back the latest deploy if it correlates",
                     "Scale out the slow service", "Open a follow-up to add tracing"]},
)


@tool(cacheable=True, cache_ttl_s=30.0, timeout_s=10.0)
def fetch_alerts(service: Literal["checkout", "search", "payments"]) -> dict[str, Any]:
    """Fetch the firing alerts (symptoms: latency, errors, saturation) of one service.

    Args:
        service: The affected service.
    """
    return {"service": service, "symptoms": list(_ALERTS[service])}


@tool(cacheable=True, cache_ttl_s=300.0, timeout_s=10.0)
def search_runbooks(description: str) -> dict[str, Any]:
    """Find the incident runbook matching symptoms (latency, 502 errors, exhausted connections,
    provider failures) and return its diagnosis and remediation steps.

    Args:
        description: What is observed (symptoms, errors, metrics), in plain words.
    """
    words = description.lower()
    best = max(_RUNBOOKS, key=lambda rb: sum(word in words for word in rb["match"]))
    return {key: value for key, value in best.items() if key != "match"}
