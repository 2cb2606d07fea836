"""MCP servers in the worker's configuration, and the pure pieces of serving their tools: the
``[mcp_servers]`` tables (defaults, per-tool options, one transport), served names, ``${VAR}``
references, argument checks against a JSON schema, and what a tool result becomes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mcp_types
import pytest
from pydantic import ValidationError

from baton.activities.mcp import McpServer
from baton.activities.mcp.tools import _parameters, definitions, result_value
from baton.activities.tools.arguments import Arguments, check_arguments
from baton.mcp_servers import McpServerConfig, expand, served_name
from baton.settings import BatonSettings
from baton.specs import ApprovalPolicy, ToolSpec
from baton.tools import ToolDefinition

TOML = """
[mcp_servers.git]
command = "mcp-server-git"
args = ["--repository", "/srv/repo"]
env = {GIT_AUTHOR_NAME = "Baton", TOKEN = "${GIT_TOKEN}"}
effect = "read"
approval = "never"

[mcp_servers.git.tools.git_status]

[mcp_servers.git.tools.git_commit]
effect = "write"
approval = {mode = "always", approvers = ["release-managers"]}
timeout_s = 60
retry = {max_attempts = 5}

[mcp_servers.crm]
url = "https://crm.example/mcp"
headers = {Authorization = "Bearer ${CRM_TOKEN}"}
tools = ["*"]
"""


def test_a_toml_file_configures_servers_with_safe_defaults(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "baton.toml").write_text(TOML)
    monkeypatch.setenv("BATON_CONFIG", str(tmp_path / "baton.toml"))
    servers = BatonSettings().mcp_servers
    git, crm = servers["git"], servers["crm"]
    assert git.transport == "stdio" and crm.transport == "http"
    assert set(git.tools) == {"git_status", "git_commit"} and git.exposes("git_status")
    assert not git.exposes("git_reset")
    status, commit = git.spec_options("git_status"), git.spec_options("git_commit")
    assert status["effect"] == "read" and status["approval"] == ApprovalPolicy(mode="never")
    assert commit["effect"] == "write" and commit["timeout_s"] == 60
    assert commit["approval"].approvers == ("release-managers",)
    assert commit["retry"].max_attempts == 5
    # Whatever the server claims about itself, its tools write and ask a person by default.
    anything = crm.spec_options("create_contact")
    assert crm.exposes("create_contact")
    assert anything["effect"] == "write" and anything["approval"].mode == "always"
    assert crm.describe() == "https://crm.example/mcp"  # never the headers: they hold secrets


def test_servers_from_the_environment_round_trip_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATON_MCP_SERVERS", '{"time": {"command": "mcp-server-time", '
                       '"tools": ["get_current_time"], "effect": "read"}}')
    settings = BatonSettings()
    assert settings.mcp_servers["time"].tools["get_current_time"].effect is None
    again = McpServerConfig.model_validate(settings.mcp_servers["time"].model_dump(mode="json"))
    assert again == settings.mcp_servers["time"]


@pytest.mark.parametrize(("config", "message"), [
    ({"tools": ["x"]}, "either command"),
    ({"command": "a", "url": "http://b", "tools": ["x"]}, "either command"),
    ({"command": "a", "headers": {"A": "b"}, "tools": ["x"]}, "headers are for url"),
    ({"url": "http://b", "args": ["-v"], "tools": ["x"]}, "args, env and cwd"),
    ({"command": "a", "tools": []}, "list the tools"),
    ({"command": "a", "tools": {"x": {"effect": "delete"}}}, "effect"),
])
def test_an_invalid_server_table_is_refused(config: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        McpServerConfig.model_validate(config)


@pytest.mark.parametrize("name", ["my__server", "_x", "9lives", "has space", "a" * 33])
def test_server_names_keep_served_names_unambiguous(name: str) -> None:
    with pytest.raises(ValidationError, match="MCP server name"):
        BatonSettings(mcp_servers={name: {"command": "x", "tools": ["t"]}})


def test_served_names_are_valid_function_names_for_every_provider() -> None:
    assert served_name("time", "get_current_time") == "time__get_current_time"
    assert served_name("fs", "files/read.text") == "fs__files_read_text"
    config = McpServerConfig(command="x", tools={"read": {"name": "fs_read"}})
    assert served_name("fs", "read", config.tools["read"]) == "fs_read"


def test_variables_are_read_from_the_given_environment() -> None:
    assert expand("Bearer ${TOKEN}", {"TOKEN": "s3cret"}) == "Bearer s3cret"
    assert expand("plain $TOKEN {TOKEN}", {}) == "plain $TOKEN {TOKEN}"
    with pytest.raises(KeyError, match="CRM_TOKEN is not set"):
        expand("Bearer ${CRM_TOKEN}", {})


SCHEMA = {"type": "object", "title": "args", "properties": {
    "timezone": {"type": "string", "title": "Timezone", "description": "IANA name"},
    "days": {"type": "integer", "minimum": 0}}, "required": ["timezone"]}


def _schema_tool(schema: dict[str, object]) -> ToolDefinition:
    spec = ToolSpec(name="time__now", description="Now.", parameters=_parameters(schema))  # type: ignore[arg-type]
    return ToolDefinition(spec=spec, module="mcp:time", fn=lambda **_: None, arguments_model=None,
                          context_param="ctx")


def test_an_mcp_schema_becomes_parameters_that_refuse_invented_arguments() -> None:
    params = _parameters(SCHEMA)
    assert "title" not in params and "title" not in params["properties"]["timezone"]
    assert params["additionalProperties"] is False
    assert params["properties"]["timezone"]["description"] == "IANA name"
    assert SCHEMA["title"] == "args"  # the server's listing is not modified
    assert _parameters({**SCHEMA, "additionalProperties": True})["additionalProperties"] is True


def test_schema_arguments_are_checked_and_passed_as_one_dict() -> None:
    tool = _schema_tool(SCHEMA)
    ok = check_arguments(tool, {"timezone": "Europe/Paris", "days": 2})
    assert ok == Arguments(kwargs={"arguments": {"timezone": "Europe/Paris", "days": 2}},
                           canonical={"timezone": "Europe/Paris", "days": 2})
    problems = check_arguments(tool, {"days": -1, "tz": "x"})
    assert problems == [
        {"field": "timezone", "message": "required argument is missing"},
        {"field": "tz", "message": "unknown argument; allowed: timezone, days"},
        {"field": "days", "message": "-1 is less than the minimum of 0"},
    ]


def test_a_result_is_its_structured_content_or_its_text() -> None:
    text = mcp_types.TextContent(text="2 payments")
    image = mcp_types.ImageContent(data="aGVsbG8h", mime_type="image/png")
    assert result_value(mcp_types.CallToolResult(content=[text], structured_content={"n": 2})) \
        == {"n": 2}
    assert result_value(mcp_types.CallToolResult(content=[text, image])) == (
        "2 payments\n[image image/png, 6 bytes, omitted]")


def _listed(name: str, schema: dict[str, Any], description: str | None = None) -> mcp_types.Tool:
    return mcp_types.Tool(name=name, input_schema=schema, description=description)


def test_a_listing_becomes_the_definitions_the_configuration_asks_for(tmp_path: Path) -> None:
    config = McpServerConfig(command="x", tools={
        "find": {"effect": "read", "approval": "never", "cacheable": True},
        "files/write": {"description": "Write one file of the workspace."},
        "gone": {}, "remote": {}, "broken": {}})
    server = McpServer("ws", config, log_dir=tmp_path)
    server.tools = [
        _listed("find", SCHEMA, "Find things."),
        _listed("files/write", {"type": "object", "properties": {"path": {"type": "string"}}},
                "Writes."),
        _listed("unexposed", {"type": "object"}, "Not configured."),
        _listed("remote", {"type": "object", "properties": {
            "x": {"$ref": "https://schemas.example/x.json"}}}),
        _listed("broken", {"type": "object", "properties": {"x": {"type": 5}}}),
    ]
    served, problems = definitions(server)
    by_name = {d.spec.name: d for d in served}
    assert set(by_name) == {"ws__find", "ws__files_write"}
    find, write = by_name["ws__find"].spec, by_name["ws__files_write"].spec
    assert (find.effect, find.approval.mode, find.cacheable) == ("read", "never", True)
    assert (write.effect, write.approval.mode) == ("write", "always")  # the defaults
    assert write.description == "Write one file of the workspace."  # the operator's words
    assert find.description == "Find things."
    assert by_name["ws__find"].arguments_model is None and by_name["ws__find"].module == "mcp:ws"
    assert "lists no tool 'gone'" in problems["ws__gone"]
    assert "only references within the schema" in problems["ws__remote"]
    assert "cannot be served" in problems["ws__broken"]
