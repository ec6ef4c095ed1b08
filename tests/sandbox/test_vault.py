"""The vault: staged writes, immutable committed versions, sha256, and recorded NULL columns."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from sandbox.vault import Vault, sha256_file


def _reader(table: pa.Table) -> pa.RecordBatchReader:
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=2))


def test_commit_hashes_and_freezes_the_file(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "vault", tmp_path / "tmp")
    table = pa.table({"id": ["a", "b", "c"], "income": [1, None, 3], "district": ["x", "y", "x"]})
    staged = vault.write_staged(_reader(table))
    stored = vault.commit(staged, "ds_1", 1)
    assert not staged.exists() and stored.path.exists()
    assert stored.sha256 == sha256_file(stored.path) and stored.rows == 3
    assert stored.null_columns == ("income",)
    assert stored.path.stat().st_mode & 0o222 == 0
    with pytest.raises(FileExistsError):
        vault.commit(vault.write_staged(_reader(table)), "ds_1", 1)


def test_a_failed_stage_leaves_nothing(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "vault", tmp_path / "tmp")
    schema = pa.schema([("a", pa.int64())])

    def batches():
        yield pa.record_batch([pa.array([1])], schema=schema)
        raise ValueError("source broke")

    with pytest.raises(ValueError):
        vault.write_staged(pa.RecordBatchReader.from_batches(schema, batches()))
    assert list((tmp_path / "tmp").iterdir()) == []


def test_discard_removes_a_version(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "vault", tmp_path / "tmp")
    vault.commit(vault.write_staged(_reader(pa.table({"a": [1]}))), "ds_2", 1)
    vault.discard("ds_2", 1)
    assert not (tmp_path / "vault" / "ds_2" / "v1").exists()
