"""PII encryption: round trips, rotation between keys, tamper and row binding."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditdesk.errors import InputError
from serving.crypto import Keyring, PiiKeyError, Sealed, load_keyring, new_key_spec, parse_keys


def _key(byte: int) -> bytes:
    return bytes([byte]) * 32


@settings(max_examples=50, deadline=None)
@given(plaintext=st.binary(max_size=2048), aad=st.binary(max_size=64))
def test_seal_then_open_returns_the_plaintext(plaintext: bytes, aad: bytes) -> None:
    ring = Keyring({"k1": _key(1)})
    sealed = ring.seal(plaintext, aad)
    assert sealed.key_id == "k1"
    assert len(sealed.ciphertext) == len(plaintext) + 16  # GCM tag
    assert ring.open(sealed, aad) == plaintext


def test_same_plaintext_seals_differently_each_time() -> None:
    ring = Keyring({"k1": _key(1)})
    a, b = ring.seal(b"X1234567", b"row:1"), ring.seal(b"X1234567", b"row:1")
    assert a.nonce != b.nonce and a.ciphertext != b.ciphertext
    assert b"X1234567" not in a.ciphertext


def test_rotation_old_rows_open_new_rows_use_new_key_then_old_key_can_go() -> None:
    old_ring = Keyring({"k1": _key(1)})
    row = old_ring.seal(b"Ada Example", b"app:7")
    both = Keyring({"k1": _key(1), "k2": _key(2)}, active_key_id="k2")
    assert both.open(row, b"app:7") == b"Ada Example"  # decrypt with old
    fresh = both.rotate(row, b"app:7")  # encrypt with new
    assert fresh.key_id == "k2"
    assert both.rotate(fresh, b"app:7") is fresh  # already current: untouched
    new_only = Keyring({"k2": _key(2)})
    assert new_only.open(fresh, b"app:7") == b"Ada Example"
    with pytest.raises(PiiKeyError, match="not configured"):
        new_only.open(row, b"app:7")


def test_tampered_or_moved_ciphertext_does_not_open() -> None:
    ring = Keyring({"k1": _key(1)})
    sealed = ring.seal(b"+44 20 7946 0000", b"app:1")
    flipped = bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]
    with pytest.raises(PiiKeyError, match="does not verify"):
        ring.open(Sealed("k1", sealed.nonce, flipped), b"app:1")
    with pytest.raises(PiiKeyError):  # same blob pasted onto another application's row
        ring.open(sealed, b"app:2")
    with pytest.raises(PiiKeyError):  # right id, wrong key material
        Keyring({"k1": _key(9)}).open(sealed, b"app:1")


def test_parse_keys_accepts_both_base64_alphabets_and_rejects_bad_entries() -> None:
    raw = bytes(range(32))
    std = base64.b64encode(raw).decode()
    url = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert parse_keys(f"a:{std}, b:{url}") == {"a": raw, "b": raw}
    for bad, rule in [
        ("", "no key"),
        ("k1", "kid:base64key"),
        ("k 1:" + url, "kid:base64key"),
        ("k1:" + base64.b64encode(b"short").decode(), "32 bytes"),
        (f"k1:{url},k1:{url}", "twice"),
        ("k1:***", "base64"),
    ]:
        with pytest.raises(InputError, match=rule) as info:
            parse_keys(bad)
        assert info.value.field == "CREDITDESK_PII_KEYS"


def test_active_key_must_be_listed() -> None:
    with pytest.raises(InputError, match="not among"):
        Keyring({"k1": _key(1)}, active_key_id="k2")


def test_key_file_is_created_once_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "pii_keys"
    first = load_keyring(None, None, path)
    sealed = first.seal(b"secret", b"x")
    assert path.stat().st_mode & 0o777 == 0o600
    again = load_keyring(None, None, path)
    assert again.open(sealed, b"x") == b"secret"
    assert list(path.parent.iterdir()) == [path]  # no temp file left behind


def test_environment_keys_win_over_the_key_file(tmp_path: Path) -> None:
    spec = new_key_spec("prod-2026")
    ring = load_keyring(spec, None, tmp_path / "absent")
    assert ring.active_key_id == "prod-2026"
    assert not (tmp_path / "absent").exists()
