"""Keys at rest: one master key per installation, and envelope encryption of small secrets under it.

Why envelopes: a per-object key (a dataset version's data key, a source's credentials) is stored in the
catalog only sealed under the master key, so destroying that sealed blob destroys the object for good
(crypto-shredding) while the master key stays. AES-256-GCM with the object's kind and id as associated
data, so a sealed value moved to another row does not open.

The master key lives in `Settings.master_key_path` (default `<home>/master.key`, created 0600 on first
use), or comes from `SANDBOX_MASTER_KEY` (64 hex characters) in a deployment that keeps it in a secret.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE = 12
KEY_BYTES = 32


class Keyring:
    """Seals and opens small secrets under the master key. Never logs or returns the key itself."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != KEY_BYTES:
            raise ValueError("the master key must be 32 bytes")
        self._aead = AESGCM(master_key)

    @classmethod
    def load(cls, path: Path, hex_key: str | None = None) -> Keyring:
        """From `hex_key` when given, else from the file at `path`, made on first use (0600)."""
        if hex_key:
            return cls(bytes.fromhex(hex_key))
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_bytes(KEY_BYTES))
        return cls(path.read_bytes())

    def seal(self, plaintext: bytes, context: str) -> bytes:
        """nonce || ciphertext+tag; `context` (e.g. "dataset_version:ds_1/3") binds it to its owner.

        >>> ring = Keyring(bytes(32))
        >>> ring.open(ring.seal(b"pw", "source:s1"), "source:s1")
        b'pw'
        """
        nonce = secrets.token_bytes(_NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, context.encode("utf-8"))

    def open(self, sealed: bytes, context: str) -> bytes:
        """The plaintext; raises `cryptography.exceptions.InvalidTag` if tampered or moved."""
        return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], context.encode("utf-8"))


def new_data_key() -> bytes:
    """A fresh 256-bit key for one object (a dataset version, say)."""
    return secrets.token_bytes(KEY_BYTES)
