"""The console's application: its parts, the page helpers every route uses, and the factory.

``console_app(settings, client=...)`` builds the Starlette app; without a client it connects at
start-up (``baton console``). Pages are rendered on the server from Jinja templates with
autoescaping on — every value from a run (model output, tool arguments and results, reasons) is
untrusted — and a Content-Security-Policy that allows only this console's own script and style
files, so even a value that slipped through could not run.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from baton.client.api import BatonClient
from baton.console import present
from baton.console.deciding import Decider
from baton.console.feed import ApprovalsFeed
from baton.console.identity import Identity, console_identity
from baton.console.tools import ToolCatalogs
from baton.settings import BatonSettings
from baton.signing import load_private_key

__all__ = ["Console", "console_app", "person_of", "render"]

_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


@dataclass
class Console:
    """What the routes share (``request.app.state.console``)."""

    client: BatonClient
    identity: Identity
    templates: Jinja2Templates
    feed: ApprovalsFeed
    catalogs: ToolCatalogs
    decider: Decider

    def fragment(self, name: str, **context: Any) -> str:
        return self.templates.get_template(name).render(**context)


def _templates() -> Jinja2Templates:
    env = Environment(loader=PackageLoader("baton.console", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters.update(pretty=present.pretty, clip=present.clip, when=present.when,
                       time_left=present.time_left, quote=present.quote)
    return Jinja2Templates(env=env)


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def person_of(request: Request) -> str | Response:
    """The person making the request, or the response that asks them to sign in (or refuses a
    request that did not come through the authenticating proxy)."""
    console = console_of(request)
    person = console.identity.person(request)
    if person is not None:
        return person
    if console.identity.mode == "header":
        return PlainTextResponse(
            f"This console identifies people by the {console.identity.header} header of its "
            "authenticating proxy, and this request did not carry it.", status_code=401)
    return RedirectResponse(f"/sign-in?next={quote(request.url.path, safe='/')}",
                            status_code=303)


def render(request: Request, name: str, context: dict[str, Any], *, person: str | None = None,
           status_code: int = 200) -> Response:
    console = console_of(request)
    base = {"person": person, "mode": console.identity.mode, "signs": console.decider.signs,
            "token": console.identity.form_token(person) if person else ""}
    return console.templates.TemplateResponse(request, name, {**base, **context},
                                              status_code=status_code)


class _SecurityHeaders:
    """Every response: the CSP above, no framing, no MIME sniffing, no caching of pages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", _CSP.encode()),
                            (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"same-origin")]
                if not scope["path"].startswith("/static/"):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def console_app(settings: BatonSettings, *, client: BatonClient | None = None) -> Starlette:
    """The console for this deployment; ``ConsoleConfigError`` when its configuration gives no
    way to know who decides (see :mod:`baton.console.identity`)."""
    from baton.console import routes_approvals, routes_runs, routes_session

    identity = console_identity(settings)
    key = load_private_key(settings.console_key_file) if settings.console_key_file else None
    # Never sign as whoever runs the console process: decisions carry the person's name and,
    # with a key, the console's signature only.
    settings = settings.model_copy(update={"decider": None, "decider_key_file": None})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        connected = client or await BatonClient.connect(settings)
        app.state.console = Console(
            client=connected, identity=identity, templates=_templates(),
            feed=ApprovalsFeed(connected), catalogs=ToolCatalogs(connected.runs),
            decider=Decider(connected, key))
        yield

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    routes = [Route("/healthz", healthz),
              Mount("/static", StaticFiles(packages=[("baton.console", "static")]),
                    name="static"),
              *routes_session.routes, *routes_approvals.routes, *routes_runs.routes]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(_SecurityHeaders)
    return app
