"""The vault: staged writes, immutable committed versions, sha256, and recorded NULL columns."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sandbox.vault import ROW_GROUP_ROWS, Vault, sha256_file
from sandbox.vault_crypto import decryption_properties


def _reader(table: pa.Table) -> pa.RecordBatchReader:
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=2))


def test_commit_hashes_and_freezes_the_file(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "vault", tmp_path / "tmp")
    table = pa.table({"id": ["a", "b", "c"], "income": [1, None, 3], "district": ["x", "y", "x"]})
    stored = vault.commit(table.schema, _reader(table), "ds_1", 1)
    assert stored.path.exists() and pq.read_table(stored.path).equals(table)
    assert stored.sha256 == sha256_file(stored.path) and stored.rows == 3
    assert stored.null_columns == ("income",)
    assert stored.path.stat().st_mode & 0o222 == 0
    assert list(stored.path.parent.iterdir()) == [stored.path]  # no partial file beside it
    with pytest.raises(FileExistsError):
        vault.commit(table.schema, _reader(table), "ds_1", 1)


def test_a_large_version_is_written_in_bounded_row_groups(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "vault", tmp_path / "tmp")
    table = pa.table({"a": pa.array(range(ROW_GROUP_ROWS * 2 + 5), pa.int64())})
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=50_000))
    stored = vault.commit(table.schema, reader, "ds_3", 1, encrypt=True)
    assert stored.rows == table.num_rows and set(stored.keys) == {"data.parquet"}
    meta = pq.ParquetFile(
        stored.path, decryption_properties=decryption_properties(stored.keys["data.parquet"])
    )
    sizes = [meta.metadata.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert max(sizes) <= ROW_GROUP_ROWS + 50_000 and sum(sizes) == table.num_rows


def test_a_failed_commit_leaves_no_version(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "vault", tmp_path / "tmp")
    schema = pa.schema([("a", pa.int64())])

    def batches():
        yield pa.record_batch([pa.array([1])], schema=schema)
        raise ValueError("source broke")

    with pytest.raises(ValueError):
        vault.commit(schema, batches(), "ds_4", 1)
    assert list((tmp_path / "vault" / "ds_4" / "v1").iterdir()) == []


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
    table = pa.table({"a": [1]})
    vault.commit(table.schema, _reader(table), "ds_2", 1)
    vault.discard("ds_2", 1)
    assert not (tmp_path / "vault" / "ds_2" / "v1").exists()
