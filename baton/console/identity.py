"""Who is using the console, and how sure it is of that.

Two mechanisms, chosen by the deployment's configuration (``console_identity``):

- **a trusted header** (``BATON_CONSOLE_USER_HEADER``, e.g. ``X-Forwarded-User``): an
  authenticating proxy in front of the console signs people in and names them in that header.
  The console believes it, so it must be reachable *only* through that proxy; a request without
  the header is refused, never treated as anonymous.
- **a sign-in form that asks for a name**, for the embedded development stack only: it is
  offered only where the deployment accepts unsigned decisions (``allow_unsigned_decisions``)
  and the console holds no key. A typed name proves nothing, so it must never be signed with a
  key the workers trust.

Anything else (a deployment that requires signed decisions and no proxy header) has no way to
know who decides: the console refuses to start and says why. The sign-in cookie and the forms'
anti-forgery tokens are HMACs under a secret that lives as long as the process.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from typing import Literal

from starlette.requests import Request

from baton.errors import BatonError
from baton.settings import BatonSettings

__all__ = ["COOKIE", "ConsoleConfigError", "Identity", "console_identity", "valid_name"]

COOKIE = "baton_console_person"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")


class ConsoleConfigError(BatonError):
    """The console cannot tell who is deciding with this configuration."""


def valid_name(name: str) -> bool:
    """Names as approver configuration spells them: no spaces, quotes or markup."""
    return bool(_NAME.match(name))


@dataclass(frozen=True)
class Identity:
    """How this console identifies people (``mode``) and the secret of its cookies and tokens."""

    mode: Literal["header", "sign-in"]
    header: str | None = None
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    def _mac(self, purpose: str, value: str) -> str:
        return hmac.new(self.secret, f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()

    def person(self, request: Request) -> str | None:
        """The person making ``request``, or None (then the console asks them to sign in, or
        refuses when the proxy's header is missing)."""
        if self.mode == "header":
            assert self.header is not None
            name = request.headers.get(self.header, "").strip()
            return name or None
        cookie = request.cookies.get(COOKIE, "")
        name, _, mac = cookie.rpartition(".")
        if name and valid_name(name) and hmac.compare_digest(mac, self._mac("person", name)):
            return name
        return None

    def cookie_value(self, name: str) -> str:
        """The sign-in cookie for ``name`` (sign-in mode only)."""
        if self.mode != "sign-in":
            raise ConsoleConfigError("this console identifies people by its proxy's header")
        return f"{name}.{self._mac('person', name)}"

    def form_token(self, person: str) -> str:
        """The anti-forgery token a decision form carries: only a page this console rendered
        for ``person`` can post a decision as them (a proxy's session cookie would otherwise
        let any site submit one)."""
        return self._mac("form", person)

    def token_ok(self, person: str, token: str) -> bool:
        return hmac.compare_digest(token, self.form_token(person))


def console_identity(settings: BatonSettings) -> Identity:
    """The identity mechanism the configuration allows; ``ConsoleConfigError`` says what to set
    when it allows none."""
    if settings.console_user_header:
        if settings.console_key_file is None and not settings.allow_unsigned_decisions:
            raise ConsoleConfigError(
                "this deployment requires signed decisions: give the console its key "
                "(BATON_CONSOLE_KEY_FILE, `baton keys approver console`) and list it under "
                "[approval_services.console] in the workers' configuration")
        return Identity(mode="header", header=settings.console_user_header)
    if settings.console_key_file is not None:
        raise ConsoleConfigError(
            "the console has a signing key (BATON_CONSOLE_KEY_FILE) but no authenticating proxy: "
            "set BATON_CONSOLE_USER_HEADER to the header your proxy names people in; a console "
            "with a key never signs a name someone merely typed")
    if not settings.allow_unsigned_decisions:
        raise ConsoleConfigError(
            "this deployment requires signed decisions, so the console must know who decides: "
            "put it behind an authenticating proxy and set BATON_CONSOLE_USER_HEADER (and "
            "BATON_CONSOLE_KEY_FILE for its signing key); the sign-in form that only asks for a "
            "name is for development stacks (BATON_ALLOW_UNSIGNED_DECISIONS=true)")
    return Identity(mode="sign-in")
