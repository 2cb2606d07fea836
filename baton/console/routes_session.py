"""Signing in and out (development stacks only; see :mod:`baton.console.identity`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from baton.console.app import console_of, render
from baton.console.identity import COOKIE, valid_name

__all__ = ["routes"]


def _local(target: str) -> str:
    """Only paths of this console: a crafted ``next`` must not send a person elsewhere."""
    return target if target.startswith("/") and not target.startswith("//") else "/approvals"


async def home(_: Request) -> Response:
    return RedirectResponse("/approvals", status_code=303)


async def sign_in(request: Request) -> Response:
    console = console_of(request)
    if console.identity.mode != "sign-in":
        return RedirectResponse("/approvals", status_code=303)  # the proxy signs people in
    target = _local(request.query_params.get("next", "/approvals"))
    if request.method == "GET":
        return render(request, "sign_in.html", {"next": target, "error": None})
    form = await request.form()
    name = str(form.get("name", "")).strip()
    target = _local(str(form.get("next", target)))
    if not valid_name(name):
        return render(request, "sign_in.html", {
            "next": target, "error": "a name as the approvers list spells it: letters, digits "
                                     "and . _ @ + - (no spaces)"}, status_code=400)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, console.identity.cookie_value(name), httponly=True,
                        samesite="strict", path="/")
    return response


async def sign_out(_: Request) -> Response:
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


routes = [Route("/", home), Route("/sign-in", sign_in, methods=["GET", "POST"]),
          Route("/sign-out", sign_out, methods=["POST"])]
