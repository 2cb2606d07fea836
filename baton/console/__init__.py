"""The web console: an approvals inbox across runs and members, run search, and live run pages.

Server-rendered with Starlette and Jinja templates (package data, no JavaScript build step);
live parts of pages are server-sent events. ``baton console`` serves it alone, ``baton up``
next to the embedded stack's other processes. Who is deciding comes from the deployment's
configuration (:mod:`baton.console.identity`): a trusted header set by an authenticating proxy,
or, on a development stack only, a sign-in form that asks for a name. With a key the console
signs each decision as the approvals service ``console`` for the person it identified.
See docs/console.md and SECURITY.md.
"""

from baton.console.app import console_app
from baton.console.identity import ConsoleConfigError
from baton.console.serve import serve_console

__all__ = ["ConsoleConfigError", "console_app", "serve_console"]
