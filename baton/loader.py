"""Team YAML → ``TeamSpec``, with errors that name the file, the place and the problem.

Sub-teams (``teams:``) are given inline or as ``{include: other.yaml}`` (relative to the file
that includes them).

A team file is bounded before it is validated: YAML aliases may not expand it past
``MAX_DOCUMENT_VALUES`` values or ``MAX_DOCUMENT_DEPTH`` levels (an "alias bomb" is a few lines
that expand exponentially), sub-teams may not nest past ``MAX_TEAM_NESTING`` levels, and each
refusal names the file and the place.

A team names model profiles and tools; it does not define them. Loading never imports code: the
worker serves profiles and tools from its own configuration and checks the names when a run
starts (see ``docs/configuration.md``).
"""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from baton.errors import SpecError
from baton.specs import WORKER_OWNED_KEYS, LocatedError, TeamSpec

__all__ = [
    "MAX_DOCUMENT_DEPTH",
    "MAX_DOCUMENT_VALUES",
    "MAX_TEAM_NESTING",
    "load_team",
    "parse_team",
]

MAX_DOCUMENT_VALUES = 100_000
MAX_DOCUMENT_DEPTH = 64
MAX_TEAM_NESTING = 8

# Keys that used to be team settings and are the worker's now: say where they went.
_WORKER_OWNED = {
    "models": "model profiles are worker configuration ([profiles.NAME] in baton.toml or "
              "BATON_PROFILES__NAME__*); agents name a served profile with `model: NAME`",
    "tool_modules": "tool modules are worker configuration (tool_modules in baton.toml or "
                    "BATON_TOOL_MODULES); agents name the tools they use under `tools:`",
    "tools": "tools are served by the worker (its tool_modules); list tool names per agent",
    "approver_groups": "who may approve is deployment configuration ([approver_groups] and "
                       "[approvers.NAME] in baton.toml); policies name approvers and groups",
}


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not part.startswith(("function-", "tagged-union")):
            out += f".{part}" if out else part
    return out or "(top level)"


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds directly or as ``X | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if (model := _model_in(arg)) is not None:
                return model
    return None


def _keys_at(loc: tuple[int | str, ...]) -> list[str]:
    """The keys a team file may use at ``loc`` (pydantic's path to the unknown key's owner):
    walk the spec's field types, through lists and tuples (an index) and dicts (a name)."""
    annotation: Any = TeamSpec
    for part in loc:
        model = _model_in(annotation)
        if model is not None:
            if not isinstance(part, str) or part not in model.model_fields:
                return []
            annotation = model.model_fields[part].annotation
            continue
        args = [a for a in typing.get_args(_strip_optional(annotation)) if a is not Ellipsis]
        if not args:
            return []
        annotation = args[-1]  # list[X], tuple[X, ...], dict[str, X]: the element type
    model = _model_in(annotation)
    return [f.alias or name for name, f in model.model_fields.items()] if model else []


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        return rest[0] if len(rest) == 1 else annotation
    return annotation


def _unknown_key(loc: tuple[int | str, ...]) -> str:
    """``unknown key 'tols' (did you mean 'tools'?)``: the closest key valid at that place."""
    key = str(loc[-1])
    close = difflib.get_close_matches(key, _keys_at(loc[:-1]), n=1, cutoff=0.6)
    return f"unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else "")


def _unknown_key_at(value: Any, annotation: Any, loc: tuple[int | str, ...] = ()
                    ) -> tuple[int | str, ...] | None:
    """Where ``value`` (part of a team document) has a key its spec does not define.

    Checked here, on what a person wrote, and not by the models: the same models decode run
    input on the wire, where a newer client's extra field must not stop an older worker."""
    model = _model_in(annotation)
    children: list[tuple[int | str, Any, Any]] = []
    if model is not None:
        if not isinstance(value, dict):
            return None  # not a mapping: validation says so, with the type it expected
        fields = model.model_fields
        names = {name: name for name in fields} | {
            f.alias: name for name, f in fields.items() if f.alias}
        for key, item in value.items():
            if key not in names:
                return (*loc, key)
            children.append((key, item, fields[names[key]].annotation))
    else:
        args = [a for a in typing.get_args(_strip_optional(annotation)) if a is not Ellipsis]
        items: Any = (value.items() if isinstance(value, dict)
                      else enumerate(value) if isinstance(value, list) else ())
        children = [(key, item, args[-1]) for key, item in items] if args else []
    for key, item, inner in children:
        found = _unknown_key_at(item, inner, (*loc, key))
        if found is not None:
            return found
    return None


def _read_yaml(path: Path) -> Any:
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
    except RecursionError as exc:
        raise SpecError(f"the document nests too deeply (more than {MAX_DOCUMENT_DEPTH} "
                        "levels)", file=str(path)) from exc
    _check_bounds(document, str(path))
    return document


def _check_bounds(document: Any, file: str | None) -> None:
    """Refuse a document that expands past the bounds (aliases share nodes: each distinct node
    is measured once, so an exponential expansion is measured in linear time)."""
    measured: dict[int, tuple[int, int]] = {}  # id(container) → (values when expanded, depth)
    open_: set[int] = set()
    stack: list[Any] = [document]
    while stack:
        node = stack[-1]
        children = [c for c in (node.values() if isinstance(node, dict) else node)
                    if isinstance(c, dict | list)] if isinstance(node, dict | list) else []
        if id(node) not in open_:
            open_.add(id(node))
            for child in children:
                if id(child) in open_ and id(child) not in measured:
                    raise SpecError("YAML aliases refer to themselves (a recursive document)",
                                    file=file)
            stack += [c for c in children if id(c) not in measured]
            continue
        stack.pop()
        if id(node) in measured or not isinstance(node, dict | list):
            continue
        values = 1 + len(node) + sum(measured[id(c)][0] for c in children)
        depth = 1 + max((measured[id(c)][1] for c in children), default=0)
        measured[id(node)] = (values, depth)
        if values > MAX_DOCUMENT_VALUES:
            raise SpecError(f"the document expands to more than {MAX_DOCUMENT_VALUES:,} values "
                            "(YAML aliases repeat what they name)", file=file)
        if depth > MAX_DOCUMENT_DEPTH:
            raise SpecError(f"the document nests more than {MAX_DOCUMENT_DEPTH} levels deep",
                            file=file)


def _expand(document: Any, *, file: str | None, base: Path, seen: tuple[Path, ...],
            where: str = "") -> Any:
    """Inline ``include``s, recursively, refusing include cycles, worker-owned keys and
    sub-teams nested past ``MAX_TEAM_NESTING``."""
    if not isinstance(document, dict):
        raise SpecError("a team must be a mapping with name, pattern and agents", file=file,
                        location=where.removesuffix(".") or None)
    if where.count("teams.") >= MAX_TEAM_NESTING:
        raise SpecError(f"sub-teams nest more than {MAX_TEAM_NESTING} levels deep",
                        file=file, location=where.removesuffix("."))
    assert set(_WORKER_OWNED) == WORKER_OWNED_KEYS  # one list of what moved, explained here
    for key, owner in _WORKER_OWNED.items():
        if key in document:
            raise SpecError(f"unknown key {key!r}: {owner}", file=file, location=where + key)
    teams = document.get("teams")
    if not isinstance(teams, dict):
        return document
    expanded = {}
    for name, given in teams.items():
        sub, sub_file, sub_base, sub_seen = given, file, base, seen
        if isinstance(given, dict) and set(given) == {"include"}:
            path = (base / str(given["include"])).resolve()
            if path in seen:
                chain = " -> ".join(p.name for p in (*seen, path))
                raise SpecError(f"teams include each other in a cycle: {chain}", file=file,
                                location=f"{where}teams.{name}.include")
            sub, sub_file, sub_base = _read_yaml(path), str(path), path.parent
            sub_seen = (*seen, path)
        expanded[name] = _expand(sub, file=sub_file, base=sub_base, seen=sub_seen,
                                 where=f"{where}teams.{name}.")
    return {**document, "teams": expanded}


def _check_depth(team: TeamSpec, file: str | None, prefix: str = "") -> None:
    """A hierarchical team may not nest deeper than its ``max_depth``. Checked at load time, not
    in ``TeamSpec`` itself, so a spec built in code still reaches ``HierarchicalWorkflow`` and
    ends with the typed ``depth_exceeded`` result instead of failing to decode as input."""
    section = team.hierarchical
    if section is not None and team.depth() > section.max_depth:
        raise SpecError(f"the team nests {team.depth()} levels deep, more than "
                        f"max_depth={section.max_depth}", file=file,
                        location=f"{prefix}hierarchical.max_depth")
    for name, sub in team.teams.items():
        _check_depth(sub, file, f"{prefix}teams.{name}.")


def parse_team(document: Any, *, file: str | None = None) -> TeamSpec:
    """Validate a parsed YAML document into a ``TeamSpec``."""
    base = Path(file).parent if file else Path.cwd()
    seen = (Path(file).resolve(),) if file else ()
    _check_bounds(document, file)
    document = _expand(document, file=file, base=base, seen=seen)
    unknown = _unknown_key_at(document, TeamSpec)
    if unknown is not None:
        raise SpecError(_unknown_key(unknown), file=file, location=_location(unknown))
    try:
        team = TeamSpec.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = _unknown_key(first["loc"])
        location = _location(first["loc"])
        cause = first.get("ctx", {}).get("error")
        if isinstance(cause, LocatedError):  # a cross-reference: the validator knows the place
            location = ".".join(p for p in (location.removesuffix("(top level)"),
                                             cause.location) if p)
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise SpecError(message + more, file=file, location=location) from exc
    _check_depth(team, file)
    return team


def load_team(path: str | Path) -> TeamSpec:
    path = Path(path)
    return parse_team(_read_yaml(path), file=str(path))
