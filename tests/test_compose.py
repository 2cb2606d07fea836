"""docker-compose.yml and Dockerfile: parsed and checked for the wiring a deployment relies on."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from baton.visibility import ALL_SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = compose["services"]
    return result


def depends(service: dict[str, Any]) -> dict[str, str]:
    """``depends_on`` in either compose syntax, as ``{service: condition}``."""
    raw = service.get("depends_on", {})
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in raw.items()}


def test_services_present(services: dict[str, Any]) -> None:
    assert {"postgresql", "temporal", "temporal-setup", "temporal-ui", "worker",
            "jaeger"} <= set(services)
    assert services["postgresql"]["image"].startswith("postgres:")
    assert "temporalio/" in services["temporal"]["image"]
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")


def test_temporal_runs_on_postgres(services: dict[str, Any]) -> None:
    temporal = services["temporal"]
    assert temporal["environment"]["DB"].startswith("postgres")
    assert temporal["environment"]["POSTGRES_SEEDS"] == "postgresql"
    assert depends(temporal) == {"postgresql": "service_healthy"}
    assert "healthcheck" in services["postgresql"]


def test_worker_wiring(services: dict[str, Any]) -> None:
    worker = services["worker"]
    env = worker["environment"]
    assert env["BATON_TEMPORAL_ADDRESS"] == "temporal:7233"
    assert "BATON_MODEL_SERVER_URL" in env
    assert "OPENAI_API_KEY" in env  # provider keys pass through to the worker only
    assert "ANTHROPIC_API_KEY" in env
    modules = json.loads(env["BATON_TOOL_MODULES"])
    assert "baton.examples.support_tools" in modules
    wanted = depends(worker)
    assert "temporal" in wanted
    assert wanted["temporal-setup"] == "service_completed_successfully"
    assert worker.get("build") == "." or worker.get("build", {}).get("context") == "."


def test_worker_is_scalable(services: dict[str, Any]) -> None:
    worker = services["worker"]
    assert "container_name" not in worker  # a fixed name allows only one replica
    assert "ports" not in worker  # so would a fixed host port


def test_worker_traces_to_jaeger(services: dict[str, Any]) -> None:
    jaeger = services["jaeger"]
    assert jaeger["image"].startswith("jaegertracing/")
    assert str(jaeger["environment"]["COLLECTOR_OTLP_ENABLED"]).lower() == "true"
    assert "16686:16686" in jaeger["ports"]
    worker = services["worker"]
    env = worker["environment"]
    assert "jaeger" in depends(worker)
    assert env["BATON_TRACE_EXPORTER"] == "${BATON_TRACE_EXPORTER:-otlp}"
    assert env["BATON_OTLP_ENDPOINT"] == "${BATON_OTLP_ENDPOINT:-http://jaeger:4318}"
    assert "BATON_OTLP_HEADERS" in env  # Langfuse and authenticated collectors
    assert env["BATON_TRACE_CONTENT"].endswith(":-false}")  # content stays opt-in


def test_search_attributes_registered(services: dict[str, Any]) -> None:
    setup = services["temporal-setup"]
    assert "admin-tools" in setup["image"]
    script = "\n".join(setup["command"]) if isinstance(setup["command"], list) else setup["command"]
    assert "search-attribute create" in script
    for key in ALL_SEARCH_ATTRIBUTES:
        kind = {"KEYWORD": "Keyword", "DOUBLE": "Double"}[key.indexed_value_type.name]
        assert re.search(rf"add {key.name} {kind}\b", script), key.name
    assert setup["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_ui_points_at_temporal(services: dict[str, Any]) -> None:
    assert services["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert "temporal" in depends(services["temporal-ui"])


def test_every_dependency_exists(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for dependency in depends(service):
            assert dependency in services, f"{name} depends on unknown {dependency}"


def test_dockerfile_runs_the_worker() -> None:
    text = (ROOT / "Dockerfile").read_text()
    cmd = [line for line in text.splitlines() if line.startswith("CMD")]
    assert len(cmd) == 1
    assert json.loads(cmd[0].removeprefix("CMD").strip()) == ["baton", "worker"]
    assert re.search(r"^FROM python:3\.1[1-9]", text, re.MULTILINE)
    assert "USER " in text  # not root


def test_dockerignore_keeps_state_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".venv", ".baton", ".git"):
        assert entry in ignored
