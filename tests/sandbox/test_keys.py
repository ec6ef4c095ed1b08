"""Envelope keys: sealed values open only under their own context, and the key file is private."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from sandbox.keys import Keyring, new_data_key


def test_master_key_file_is_made_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "home" / "master.key"
    sealed = Keyring.load(path).seal(b"secret", "source:s1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Keyring.load(path).open(sealed, "source:s1") == b"secret"


def test_a_sealed_value_does_not_open_under_another_context_or_key(tmp_path: Path) -> None:
    ring = Keyring.load(tmp_path / "k")
    key = new_data_key()
    sealed = ring.seal(key, "dataset_version:ds_1/1")
    assert key not in sealed
    with pytest.raises(InvalidTag):
        ring.open(sealed, "dataset_version:ds_1/2")
    with pytest.raises(InvalidTag):
        Keyring(bytes(32)).open(sealed, "dataset_version:ds_1/1")


def test_hex_key_from_settings_wins_over_the_file(tmp_path: Path) -> None:
    ring = Keyring.load(tmp_path / "unused", "11" * 32)
    assert not (tmp_path / "unused").exists()
    assert Keyring(bytes.fromhex("11" * 32)).open(ring.seal(b"x", "c"), "c") == b"x"
