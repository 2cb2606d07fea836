"""The scripted model: a deterministic, offline, OpenAI- and Anthropic-compatible model server
(``serve``; ``testing.ScriptedServer`` for tests; ``brain.think`` is its heuristic model)."""

from baton.scripted.server import DEFAULT_MODEL, ServerConfig, create_app, serve

__all__ = ["DEFAULT_MODEL", "ServerConfig", "create_app", "serve"]
