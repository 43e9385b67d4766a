"""AES-256-GCM encryption of PII at rest, with key ids so keys can rotate.

Each ciphertext records the id of the key that sealed it, so after a rotation old rows
still open with the old key while new rows are sealed with the new one; ``rotate``
re-seals a row under the active key, after which the old key can be retired. The
associated data binds a ciphertext to its row (e.g. the application id), so a blob
copied onto another row fails to open instead of silently revealing someone else's PII.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from creditdesk.errors import InputError

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the GCM standard nonce; random nonces are safe far beyond our row counts
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class PiiKeyError(RuntimeError):
    """A stored ciphertext cannot be opened: unknown key id, wrong key or tampered data."""


@dataclass(frozen=True)
class Sealed:
    """One encrypted value as stored: key id, nonce, ciphertext (with the GCM tag)."""

    key_id: str
    nonce: bytes
    ciphertext: bytes


def _b64decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)


def parse_keys(spec: str) -> dict[str, bytes]:
    """Parse ``kid:base64key[,kid:base64key...]`` (url-safe or standard base64, 32 bytes each)."""
    keys: dict[str, bytes] = {}
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        key_id, sep, encoded = item.partition(":")
        if not sep or not _KEY_ID.match(key_id):
            raise InputError(
                "each entry must be 'kid:base64key' with kid of 1-32 letters, digits, '_', '.', '-'",
                field="CREDITDESK_PII_KEYS",
            )
        try:
            key = _b64decode(encoded.strip().replace("+", "-").replace("/", "_"))
        except (binascii.Error, ValueError):
            raise InputError(f"key {key_id!r} is not valid base64", field="CREDITDESK_PII_KEYS") from None
        if len(key) != KEY_BYTES:
            raise InputError(
                f"key {key_id!r} must decode to {KEY_BYTES} bytes (AES-256), got {len(key)}",
                field="CREDITDESK_PII_KEYS",
            )
        if key_id in keys:
            raise InputError(f"key id {key_id!r} is listed twice", field="CREDITDESK_PII_KEYS")
        keys[key_id] = key
    if not keys:
        raise InputError("no key given", field="CREDITDESK_PII_KEYS")
    return keys


def new_key_spec(key_id: str) -> str:
    """A fresh ``kid:base64key`` entry (for key files and rotation instructions)."""
    if not _KEY_ID.match(key_id):
        raise InputError("key id must be 1-32 letters, digits, '_', '.', '-'", field="key_id")
    encoded = base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii").rstrip("=")
    return f"{key_id}:{encoded}"


class Keyring:
    """The PII keys of this process: several may open, exactly one seals."""

    def __init__(self, keys: dict[str, bytes], active_key_id: str | None = None) -> None:
        if not keys:
            raise InputError("at least one key is required", field="CREDITDESK_PII_KEYS")
        active = active_key_id or next(iter(keys))
        if active not in keys:
            raise InputError(
                f"active key id {active!r} is not among the listed keys {sorted(keys)}",
                field="CREDITDESK_PII_ACTIVE_KEY_ID",
            )
        self._ciphers = {kid: AESGCM(key) for kid, key in keys.items()}
        self.active_key_id = active

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._ciphers)

    def seal(self, plaintext: bytes, associated_data: bytes) -> Sealed:
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self._ciphers[self.active_key_id].encrypt(nonce, plaintext, associated_data)
        return Sealed(self.active_key_id, nonce, ciphertext)

    def open(self, sealed: Sealed, associated_data: bytes) -> bytes:
        cipher = self._ciphers.get(sealed.key_id)
        if cipher is None:
            raise PiiKeyError(f"PII key id {sealed.key_id!r} is not configured (retired too early?)")
        try:
            return cipher.decrypt(sealed.nonce, sealed.ciphertext, associated_data)
        except InvalidTag:
            raise PiiKeyError(f"PII ciphertext does not verify under key {sealed.key_id!r}") from None

    def rotate(self, sealed: Sealed, associated_data: bytes) -> Sealed:
        """Re-seal under the active key (a no-op when it already is)."""
        if sealed.key_id == self.active_key_id:
            return sealed
        return self.seal(self.open(sealed, associated_data), associated_data)


def load_keyring(pii_keys: str | None, active_key_id: str | None, key_file: Path) -> Keyring:
    """Keys from the environment, or (embedded default) from a key file created on first use.

    The key file is written to a temporary name and published with ``os.link`` (atomic,
    fails if the name exists), so two workers starting together agree on one key instead
    of each sealing rows the other cannot open, and nobody reads a half-written file.
    """
    if pii_keys:
        return Keyring(parse_keys(pii_keys), active_key_id)
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = key_file.with_name(f".{key_file.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(new_key_spec("k1") + "\n")
        try:
            os.link(tmp, key_file)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return Keyring(parse_keys(key_file.read_text().strip()), active_key_id)
