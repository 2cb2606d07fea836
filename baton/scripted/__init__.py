"""The scripted model: a deterministic, offline, OpenAI- and Anthropic-compatible model server.

``serve`` runs it (the ``baton model-server`` command), ``create_app`` builds the ASGI app, and
``testing.ScriptedServer`` runs it in a background thread for tests. ``brain.think`` is the
heuristic model on its own, usable without HTTP.
"""

from baton.scripted.server import DEFAULT_MODEL, ServerConfig, create_app, serve

__all__ = ["DEFAULT_MODEL", "ServerConfig", "create_app", "serve"]
