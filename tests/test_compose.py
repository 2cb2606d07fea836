"""docker-compose.yml and Dockerfile: parsed and checked for the wiring a deployment relies on."""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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


def script(service: dict[str, Any]) -> str:
    command = service["command"]
    return "\n".join(command) if isinstance(command, list) else str(command)


def test_services_present(services: dict[str, Any]) -> None:
    assert {"postgresql", "temporal-schema", "temporal", "temporal-setup", "temporal-ui",
            "baton-db", "worker", "jaeger"} <= set(services)
    assert services["postgresql"]["image"].startswith("postgres:")
    assert services["temporal"]["image"].startswith("temporalio/server:")
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")


def test_no_deprecated_auto_setup_image(services: dict[str, Any]) -> None:
    for name, service in services.items():
        assert "auto-setup" not in service.get("image", ""), name


def test_temporal_runs_on_postgres_after_its_schema_job(services: dict[str, Any]) -> None:
    temporal = services["temporal"]
    env = temporal["environment"]
    assert env["DB"] == "postgres12" and env["POSTGRES_SEEDS"] == "postgresql"
    assert env["BIND_ON_IP"] == "0.0.0.0"  # the other containers must reach the frontend
    assert depends(temporal) == {"temporal-schema": "service_completed_successfully"}
    assert "healthcheck" in temporal and "healthcheck" in services["postgresql"]


def test_schema_job_creates_and_migrates_both_databases(services: dict[str, Any]) -> None:
    job = services["temporal-schema"]
    assert job["image"].startswith("temporalio/admin-tools:")
    assert depends(job) == {"postgresql": "service_healthy"}
    text = script(job)
    assert "temporal-sql-tool --plugin postgres12 --ep postgresql" in text
    for step in ("create", "setup-schema -v 0.0", "update-schema -d"):
        assert step in text, step
    assert re.search(r"for db in temporal visibility", text)
    assert "temporal_visibility" in text
    assert "/etc/temporal/schema/postgresql/v12" in text
    assert job["environment"]["SQL_PASSWORD"] == "${POSTGRES_PASSWORD:-temporal}"


def test_setup_job_creates_the_namespace_first(services: dict[str, Any]) -> None:
    setup = services["temporal-setup"]
    assert depends(setup) == {"temporal": "service_healthy"}
    text = script(setup)
    assert text.index("namespace create --namespace default") < text.index("search-attribute")


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
    text = script(setup)
    assert "search-attribute create" in text
    for key in ALL_SEARCH_ATTRIBUTES:
        kind = {"KEYWORD": "Keyword", "DOUBLE": "Double"}[key.indexed_value_type.name]
        assert re.search(rf"add {key.name} {kind}\b", text), key.name
    assert setup["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_workers_share_the_postgres_ledger_memory_and_shop(services: dict[str, Any]) -> None:
    worker = services["worker"]
    env = worker["environment"]
    ledger, shop = urlsplit(env["BATON_LEDGER_URL"]), urlsplit(env["BATON_SUPPORT_DB"])
    memory = urlsplit(env["BATON_MEMORY_URL"])
    for url in (ledger, shop, memory):
        # Every replica reaches the same server by its service name, never a per-replica file.
        assert url.scheme == "postgresql" and (url.hostname, url.port) == ("postgresql", 5432)
        # The credentials are the server's own, from the same variables.
        assert url.netloc.startswith("${POSTGRES_USER:-temporal}:${POSTGRES_PASSWORD:-temporal}@")
    assert (ledger.path, shop.path, memory.path) == ("/baton", "/shop", "/baton")
    assert "BATON_LEDGER_PATH" not in env
    # The databases exist before any worker starts: a one-shot job creates them.
    wanted = depends(worker)
    assert wanted["baton-db"] == "service_completed_successfully"
    assert wanted["temporal"] == "service_healthy"
    job = services["baton-db"]
    assert depends(job) == {"postgresql": "service_healthy"}
    assert job["environment"]["PGHOST"] == "postgresql"
    assert re.search(r"for db in baton shop\b", script(job))
    assert "createdb" in script(job)


def test_ui_points_at_temporal(services: dict[str, Any]) -> None:
    assert services["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert "temporal" in depends(services["temporal-ui"])


def test_every_dependency_exists(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for dependency in depends(service):
            assert dependency in services, f"{name} depends on unknown {dependency}"


def test_dockerfile_installs_the_postgres_extra() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "pip install '.[postgres]'" in text


def test_one_shot_scripts_are_valid_shell(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if service.get("entrypoint") != ["/bin/sh", "-c"]:
            continue
        text = script(service).replace("$$", "$")  # what compose hands the shell
        checked = subprocess.run(["sh", "-n", "-c", text], capture_output=True, text=True,
                                 check=False)
        assert checked.returncode == 0, (name, checked.stderr)


@functools.cache
def _no_compose() -> str | None:
    """Why ``docker compose`` cannot run here, or None when it can."""
    if shutil.which("docker") is None:
        return "no docker CLI on this machine"
    for probe, missing in ((["docker", "compose", "version"], "no docker compose plugin"),
                           (["docker", "info"], "no docker engine reachable")):
        if subprocess.run(probe, capture_output=True, timeout=30, check=False).returncode:
            return missing
    return None


@pytest.mark.skipif(_no_compose() is not None,
                    reason=f"{_no_compose()}: `docker compose config` is checked only where a "
                           "docker engine exists; the file is checked by parsing above")
def test_docker_compose_config_accepts_the_file() -> None:
    result = subprocess.run(["docker", "compose", "-f", str(ROOT / "docker-compose.yml"),
                             "config", "--quiet"], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr


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


def test_the_server_reads_the_dynamic_config_the_embedded_stack_uses(
        services: dict[str, Any]) -> None:
    from baton.client._devserver import DEV_SERVER_TUNING

    server = services["temporal"]
    path = server["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
    [mount] = [v for v in server["volumes"] if v.endswith(f":{path}:ro")]
    config = yaml.safe_load((ROOT / mount.split(":")[0]).read_text())
    values = {key: str(entries[0]["value"]).lower() for key, entries in config.items()}
    assert values == DEV_SERVER_TUNING
