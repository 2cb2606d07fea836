"""Team YAML → ``TeamSpec``, with errors that name the file, the place and the problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from baton.errors import SpecError, UnknownToolError
from baton.specs import TeamSpec
from baton.tools import ToolRegistry, default_registry

__all__ = ["load_team", "parse_team"]


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not part.startswith(("function-", "tagged-union")):
            out += f".{part}" if out else part
    return out or "(top level)"


def parse_team(
    document: Any,
    *,
    file: str | None = None,
    registry: ToolRegistry | None = None,
) -> TeamSpec:
    """Validate a parsed YAML document, import its tool modules and resolve every tool."""
    if not isinstance(document, dict):
        raise SpecError("a team file must be a mapping with name, pattern and agents", file=file)
    try:
        team = TeamSpec.model_validate({**document, "tools": {}})
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = f"unknown key {str(first['loc'][-1])!r}"
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise SpecError(message + more, file=file, location=_location(first["loc"])) from exc
    if "tools" in document:
        raise SpecError("'tools' is resolved from tool_modules; list tools per agent", file=file,
                        location="tools")
    registry = registry or default_registry
    try:
        registry.load_modules(team.tool_modules)
    except UnknownToolError as exc:
        raise UnknownToolError(str(exc), file=file, location="tool_modules") from exc
    specs = {}
    for index, agent in enumerate(team.agents):
        for position, name in enumerate(agent.tools):
            definition = registry.get(name)
            if definition is None:
                raise UnknownToolError(
                    f"unknown tool {name!r}; registered: {', '.join(registry.names()) or 'none'} "
                    f"(is its module listed in tool_modules?)",
                    file=file,
                    location=f"agents[{index}].tools[{position}]",
                )
            specs[name] = definition.spec
        for override in agent.approvals:
            if override not in agent.tools:
                raise SpecError(
                    f"approval override for {override!r}, which this agent does not have",
                    file=file, location=f"agents[{index}].approvals.{override}",
                )
    return team.model_copy(update={"tools": specs})


def load_team(path: str | Path, *, registry: ToolRegistry | None = None) -> TeamSpec:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SpecError("file not found", file=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise SpecError(f"not UTF-8 text: {exc}", file=str(path)) from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"invalid YAML: {problem}", file=str(path), location=where) from exc
    return parse_team(document, file=str(path), registry=registry)
