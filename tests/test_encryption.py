"""Payload encryption and secure connections, end to end on real processes.

An encrypted run's tool arguments are nowhere in the Temporal database file (its bytes are
searched), while ``baton show`` and the codec server — what the Temporal UI calls — still read
them. A plain run is the control: the same search finds its argument. TLS is tested through a
real TLS terminator in front of the dev server (the dev server itself speaks plaintext only).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from helpers import support_team
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client
from temporalio.service import TLSConfig
from tls_proxy import make_certificates, tls_proxy

from baton.client.api import BatonClient
from baton.client.stack import EmbeddedStack, free_port
from baton.codec import EncryptionCodec, decode_key
from baton.loader import load_team
from baton.runs import RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.worker import connect, tls_config, worker_resources

ROOT = Path(__file__).resolve().parents[1]
KEY = base64.b64encode(os.urandom(32)).decode()
OLD_KEY = base64.b64encode(os.urandom(32)).decode()


def stack_settings(home: Path, **extra: Any) -> BatonSettings:
    return BatonSettings(
        home=home, temporal_port=free_port(), ui_port=free_port(),
        model_server_port=free_port(), codec_server_port=free_port(),
        task_queue=f"enc-{uuid.uuid4().hex[:8]}", model_server_url=None, **extra)


async def lookup_run(stack: EmbeddedStack, token: str) -> str:
    """A support run whose only tool argument is ``token`` (an order id no one else uses)."""
    settings = stack.settings
    root = stack.model_server_url.removesuffix("/v1")
    run_id = f"support-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(trust_env=False) as http:
        (await http.put(f"{root}/_scripted/runs/{run_id}/script", json={"agents": {
            "support_agent": [
                {"tool_calls": [{"name": "lookup_order", "arguments": {"order_id": token}}]},
                {"content": "That order does not exist."}]}})).raise_for_status()
    client = await BatonClient.connect(settings)
    spec = load_team(ROOT / "baton" / "examples" / "support.yaml")
    await client.start(spec, f"Where is order {token}?", run_id=run_id)
    result = await asyncio.wait_for(client.result(run_id), 60)
    assert result.status is RunStatus.COMPLETED, result.reason
    return run_id


def database_bytes(stack: EmbeddedStack) -> bytes:
    return b"".join(path.read_bytes() for path in stack.home.glob("temporal.sqlite*"))


@pytest.fixture
async def encrypted(tmp_path: Path) -> AsyncIterator[EmbeddedStack]:
    settings = stack_settings(tmp_path / "home", codec_keys={"k2": KEY, "k1": OLD_KEY},
                              codec_key_id="k2")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BATON_SUPPORT_DB", str(tmp_path / "support.sqlite"))
        async with EmbeddedStack(settings) as stack:
            yield stack


@pytest.mark.slow
async def test_an_encrypted_runs_arguments_are_not_in_the_database_but_people_read_them(
        encrypted: EmbeddedStack, tmp_path: Path) -> None:
    token = f"ZX{uuid.uuid4().hex[:10].upper()}"
    run_id = await lookup_run(encrypted, token)

    # `baton show` (with the keys, like the worker) prints the argument...
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    env |= {"BATON_TEMPORAL_ADDRESS": encrypted.temporal_address,
            "BATON_TASK_QUEUE": encrypted.settings.task_queue, "COLUMNS": "200",
            "BATON_CODEC_KEYS": json.dumps({"k2": KEY, "k1": OLD_KEY})}
    shown = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "baton.client.cli", "show", run_id], cwd=ROOT,
        env=env, capture_output=True, text=True, timeout=60, check=False)
    assert shown.returncode == 0, shown.stderr
    assert token in shown.stdout

    # ...the codec server decodes a payload exactly as the Temporal UI asks it to...
    client = await BatonClient.connect(encrypted.settings)
    history = await client.client.get_workflow_handle(run_id).fetch_history()
    scheduled = next(e.activity_task_scheduled_event_attributes for e in history.events
                     if e.HasField("activity_task_scheduled_event_attributes")
                     and e.activity_task_scheduled_event_attributes.activity_type.name
                     == "execute_tool")
    stored = scheduled.input.payloads[0]
    assert stored.metadata["encoding"] == b"binary/encrypted"
    assert stored.metadata["encryption-key-id"] == b"k2"
    body = json_format.MessageToJson(Payloads(payloads=[stored]))
    async with httpx.AsyncClient(trust_env=False) as http:
        answer = await http.post(f"{encrypted.codec_server_url}/decode", content=body, headers={
            "Content-Type": "application/json", "X-Namespace": "default",
            "Origin": encrypted.ui_url})
        preflight = await http.options(f"{encrypted.codec_server_url}/decode", headers={
            "Origin": encrypted.ui_url, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == encrypted.ui_url
    assert preflight.status_code == 200
    decoded = json_format.Parse(answer.text, Payloads()).payloads[0]
    assert token.encode() in decoded.data

    # ...and the database holds only ciphertext (searched after the server wrote it out).
    await encrypted.stop()
    assert token.encode() not in database_bytes(encrypted)


@pytest.mark.slow
async def test_the_same_search_finds_a_plain_runs_argument(tmp_path: Path) -> None:
    settings = stack_settings(tmp_path / "home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BATON_SUPPORT_DB", str(tmp_path / "support.sqlite"))
        async with EmbeddedStack(settings) as stack:
            token = f"ZX{uuid.uuid4().hex[:10].upper()}"
            await lookup_run(stack, token)
    assert token.encode() in database_bytes(stack)


async def test_keys_rotate_and_an_unknown_key_is_named() -> None:
    old = EncryptionCodec({"k1": decode_key(OLD_KEY)}, "k1")
    rotated = EncryptionCodec({"k1": decode_key(OLD_KEY), "k2": decode_key(KEY)}, "k2")
    stored = await old.encode(json_format.Parse('{"payloads": [{"data": "aGk="}]}',
                                                Payloads()).payloads)
    assert (await rotated.decode(stored))[0].data == b"hi"  # the old key still decrypts
    newer = await rotated.encode(await rotated.decode(stored))
    assert newer[0].metadata["encryption-key-id"] == b"k2"
    with pytest.raises(ValueError, match="key 'k2', which is not configured"):
        await old.decode(newer)


# -- connections -------------------------------------------------------------------------------

async def test_worker_and_client_connect_over_mutual_tls(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, tmp_path: Path) -> None:
    certs = make_certificates(tmp_path / "certs")
    upstream = int(client.service_client.config.target_host.rsplit(":", 1)[1])
    port = free_port()
    secure = settings.model_copy(update={
        "temporal_address": f"127.0.0.1:{port}", "temporal_tls": True,
        "temporal_tls_ca_file": certs.ca, "temporal_tls_cert_file": certs.client_cert,
        "temporal_tls_key_file": certs.client_key, "temporal_tls_server_name": "localhost"})
    async with tls_proxy(certs, upstream, port):
        # A worker and a client that both only speak TLS run a scripted support run.
        tls_client = await connect(secure)
        run_id = f"tls-{uuid.uuid4().hex[:8]}"
        scripted.set_script(run_id, {"support_agent": [{"content": "Hello over TLS."}]})
        async with worker_resources(tls_client, secure) as worker, worker:
            baton = BatonClient(tls_client, secure)
            await baton.start(support_team(), "hi", run_id=run_id)
            result = await asyncio.wait_for(baton.result(run_id), 30)
        assert result.output == "Hello over TLS."
        # Without the client certificate, or without TLS, the same port refuses the connection.
        for refused in (secure.model_copy(update={"temporal_tls_cert_file": None,
                                                  "temporal_tls_key_file": None}),
                        secure.model_copy(update={"temporal_tls": False,
                                                  "temporal_tls_ca_file": None,
                                                  "temporal_tls_cert_file": None,
                                                  "temporal_tls_key_file": None})):
            with pytest.raises(RuntimeError, match="Failed client connect"):
                await asyncio.wait_for(connect(refused), 30)


def test_an_api_key_connects_with_tls_as_temporal_cloud_requires() -> None:
    cloud = BatonSettings(temporal_address="ns.acct.tmprl.cloud:7233",
                          temporal_api_key="key-123")  # type: ignore[arg-type]
    assert tls_config(cloud) is True  # the system's trust store; the key goes as a bearer token
    mtls = BatonSettings(temporal_tls_ca_file=Path(__file__))
    assert isinstance(tls_config(mtls), TLSConfig)
    assert tls_config(BatonSettings()) is False
