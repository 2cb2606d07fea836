"""``baton keys approver | console | codec``: make the keys a deployment configures.

An approver's Ed25519 key pair: the private key stays with the person (``BATON_DECIDER_KEY_FILE``
for ``baton approve``), the public key goes into the worker's ``baton.toml``. A payload
encryption key (AES-256) goes into the environment of workers, clients and the codec server.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from typing import Annotated

import typer

from baton.client.cli._common import console
from baton.signing import generate_key, private_key_pem, public_key_text

__all__ = ["keys"]

keys = typer.Typer(name="keys", no_args_is_help=True,
                   help="Make approver signing keys and payload encryption keys.")


@keys.command("approver")
def approver(name: Annotated[str, typer.Argument(help="the approver's name, as decisions say")],
             out: Annotated[Path, typer.Option(help="where to write the private key (PEM)")],
             ) -> None:
    """An Ed25519 key pair for approver NAME: the private key to OUT (readable by you only),
    the public key printed as the line for the worker's baton.toml."""
    public = _write_key(out)
    console.print(f"private key: {out} (set BATON_DECIDER={name} and "
                  f"BATON_DECIDER_KEY_FILE={out} where you run `baton approve`)\n"
                  f"for the worker's baton.toml:\n\n[approvers.{name}]\n"
                  f'public_keys = ["{public}"]', soft_wrap=True, markup=False)


def _write_key(out: Path) -> str:
    """A new Ed25519 private key to ``out`` (readable by its owner only); its public key."""
    if out.exists():
        raise typer.BadParameter(f"{out} exists; a key is never overwritten")
    key = generate_key()
    out.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(private_key_pem(key))
    return public_key_text(key)


@keys.command("console")
def console_key(out: Annotated[Path, typer.Option(help="where to write the private key (PEM)")],
                may_sign_for: Annotated[list[str] | None, typer.Option(
                    "--may-sign-for", help="approvers or groups the console may sign for "
                                           "(repeat; default: every configured approver)")]
                = None) -> None:
    """The web console's key pair: it signs the decisions of the people its authenticating
    proxy names. The private key to OUT, the lines for the workers' baton.toml printed."""
    public = _write_key(out)
    names = ", ".join(f'"{n}"' for n in (may_sign_for or ["*"]))
    console.print(f"private key: {out} (set BATON_CONSOLE_KEY_FILE={out} where the console "
                  f"runs, with BATON_CONSOLE_USER_HEADER)\nfor the workers' baton.toml:\n\n"
                  f'[approval_services.console]\npublic_keys = ["{public}"]\n'
                  f"may_sign_for = [{names}]", soft_wrap=True, markup=False)


@keys.command("codec")
def codec(key_id: Annotated[str, typer.Argument(help="a short name for the key, e.g. 2026-11")],
          ) -> None:
    """A new AES-256 payload encryption key, printed as a BATON_CODEC_KEYS entry."""
    secret = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    console.print(f'BATON_CODEC_KEYS=\'{{"{key_id}": "{secret}"}}\'  '
                  f"(BATON_CODEC_KEY_ID={key_id} encrypts; keep older keys listed to decrypt)",
                  soft_wrap=True)
