"""The built wheel alone: installed into a fresh virtualenv (not editable, no source tree on the
path), it puts only ``baton`` into site-packages and runs an example end to end — the embedded
stack from the wheel's own ``baton up``, then ``baton run`` on the research example, whose tools
read the corpus shipped as package data."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from baton.client._procs import free_port

REPO = Path(__file__).resolve().parents[1]
QUESTION = "How do durable workflow engines avoid duplicate side effects when workers crash?"


def run(*argv: str | Path, cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{argv}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_wheel_installs_only_baton_and_runs_an_example(tmp_path: Path) -> None:
    # cwd is a scratch directory everywhere below: `python -m` puts the cwd on sys.path, and the
    # repository's own baton/ must not be what runs.
    # Build from a copy of the tracked files, as a fresh clone would (setuptools writes build/
    # into the source tree it builds).
    source = tmp_path / "source"
    for name in run("git", "ls-files", cwd=REPO).stdout.splitlines():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, source, cwd=tmp_path)
    [wheel] = dist.glob("baton-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", wheel, cwd=tmp_path, timeout=600)

    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))",
                    cwd=tmp_path).stdout.strip())
    [info] = site.glob("baton-*.dist-info")
    # Every file the wheel installed, by top-level name (the console script lives in ../bin).
    tops = {line.split(",")[0].split("/")[0] for line in (info / "RECORD").read_text().split()}
    assert tops - {".."} == {"baton", info.name}, tops
    for name in ("client", "workflows", "activities", "examples", "worker.py", "scripted"):
        assert not (site / name).exists(), f"site-packages has a top-level {name}"
    package = site / "baton"
    assert (package / "examples" / "corpus" / "guides" / "idempotency-keys.md").is_file()
    assert (package / "examples" / "research_report.yaml").is_file()

    env = {k: v for k, v in os.environ.items() if not k.startswith(("BATON_", "PYTHON"))}
    env |= {"BATON_HOME": str(tmp_path / "home"), "BATON_TEMPORAL_PORT": str(free_port()),
            "BATON_UI_PORT": str(free_port()), "BATON_MODEL_SERVER_PORT": str(free_port()),
            "BATON_CONSOLE_PORT": str(free_port()), "BATON_TASK_QUEUE": "wheel"}
    env["BATON_TEMPORAL_ADDRESS"] = f"127.0.0.1:{env['BATON_TEMPORAL_PORT']}"
    log = (tmp_path / "up.log").open("w")
    up = subprocess.Popen([venv / "bin" / "baton", "up"], cwd=tmp_path, env=env, stdout=log,
                          stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "baton is up" not in (tmp_path / "up.log").read_text():
            assert up.poll() is None, (tmp_path / "up.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "up.log").read_text()
            time.sleep(0.5)
        done = run(venv / "bin" / "baton", "run", package / "examples" / "research_report.yaml",
                   "--input", QUESTION, "--run-id", "research-wheel", cwd=tmp_path,
                   env={**env, "COLUMNS": "200"})
        shown = json.loads(run(venv / "bin" / "baton", "show", "research-wheel", "--json",
                               cwd=tmp_path, env=env).stdout)
        # The console renders from the wheel's own templates and static files.
        console = f"http://127.0.0.1:{env['BATON_CONSOLE_PORT']}"
        sign_in = httpx.get(f"{console}/sign-in", timeout=10)
        styles = httpx.get(f"{console}/static/console.css", timeout=10)
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        up.wait(60)
        log.close()
    assert "completed" in done.stdout
    assert sign_in.status_code == 200 and "Your name" in sign_in.text
    assert styles.status_code == 200 and "--accent" in styles.text
    # The researchers' tools read the corpus from the installed package: their results name its
    # documents (guides/…, postmortems/…).
    calls = [e for node in _walk(shown) for e in node["events"] if e["kind"] == "tool_call"]
    assert calls and all(call["status"] == "ok" for call in calls), calls
    assert any("guides/" in c["content"] or "postmortems/" in c["content"] for c in calls)


def _walk(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for child in node["children"] for n in _walk(child))]
