"""Payload encryption: a Temporal ``PayloadCodec`` with AES-256-GCM (``cryptography``).

Every payload Temporal stores for a run — its input, activity inputs and results (tool arguments
and results, prompts, model replies), signals, updates, query answers, failures' details — is
encrypted by the client or worker before it leaves the process, so the Temporal database and
its UI hold only ciphertext. The Temporal UI shows plaintext through ``baton codec-server``,
which decrypts for people allowed to reach it.

Each encrypted payload names its key (``encryption-key-id`` in its metadata). The codec encrypts
with one key and decrypts with any configured key, so keys rotate without re-encrypting history:
add the new key, make it the one that encrypts, keep the old ones until their runs are gone.
Keys come from the process environment or a file (``BatonSettings.codec_keys`` /
``codec_keys_file``), never from history. Search attributes are not payloads: they stay
plaintext by Temporal's design (Baton puts only team, tenant, agent, status and cost there).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from baton.settings import BatonSettings

__all__ = ["ENCODING", "ChainCodec", "EncryptionCodec", "decode_key", "encryption_codec"]

ENCODING = b"binary/encrypted"
_KEY_ID = "encryption-key-id"
_NONCE_BYTES = 12


def decode_key(text: str) -> bytes:
    """A base64 AES-256 key (``baton keys codec`` prints one)."""
    key = base64.b64decode(text, validate=True)
    if len(key) != 32:
        raise ValueError(f"an AES-256 key is 32 bytes, not {len(key)}")
    return key


def encryption_codec(settings: BatonSettings) -> EncryptionCodec | None:
    """The codec ``settings`` configure, or None when encryption is off (no keys)."""
    keys = settings.encryption_keys
    if not keys:
        return None
    encrypt_with = settings.codec_key_id or next(iter(keys))
    return EncryptionCodec({key_id: decode_key(text) for key_id, text in keys.items()},
                           encrypt_with)


class EncryptionCodec(PayloadCodec):
    """Encrypts with ``keys[encrypt_with]``; decrypts with whichever key a payload names."""

    def __init__(self, keys: Mapping[str, bytes], encrypt_with: str) -> None:
        if encrypt_with not in keys:
            raise ValueError(f"codec key {encrypt_with!r} is not among the configured keys "
                             f"({', '.join(sorted(keys))})")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._key_id = encrypt_with

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self._ciphers[self._key_id]
        out = []
        for payload in payloads:
            nonce = os.urandom(_NONCE_BYTES)
            data = nonce + cipher.encrypt(nonce, payload.SerializeToString(), None)
            out.append(Payload(metadata={"encoding": ENCODING,
                                         _KEY_ID: self._key_id.encode()}, data=data))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                out.append(payload)  # written before encryption was on: readable as it is
                continue
            key_id = payload.metadata.get(_KEY_ID, b"").decode()
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise ValueError(f"payload encrypted with key {key_id!r}, which is not "
                                 "configured here (keep old keys listed while their runs live)")
            nonce, sealed = payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:]
            out.append(Payload.FromString(cipher.decrypt(nonce, sealed, None)))
        return out


class ChainCodec(PayloadCodec):
    """Several codecs in order: encode applies them first to last, decode last to first (a
    user's compression runs before Baton's encryption, and is undone after it)."""

    def __init__(self, codecs: Sequence[PayloadCodec]) -> None:
        self._codecs = list(codecs)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        current = list(payloads)
        for codec in self._codecs:
            current = await codec.encode(current)
        return current

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        current = list(payloads)
        for codec in reversed(self._codecs):
            current = await codec.decode(current)
        return current
