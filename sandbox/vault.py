"""The vault: immutable, versioned Parquet files with their sha256.

A version is written to a temporary file first and moved into place only when complete, so a failed
registration leaves nothing behind. Files are made read-only once in place. Everything streams: a
version is written from batches in row groups of `ROW_GROUP_ROWS`, read back without pyarrow's
pre-buffering (which would hold the whole compressed file), and hashed in 1 MiB blocks.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP_ROWS = 131_072  # one row group is what writing a version holds in memory


@dataclass(frozen=True)
class StoredVersion:
    relative_path: str
    path: Path
    sha256: str
    bytes: int
    rows: int
    schema: pa.Schema
    null_columns: tuple[str, ...]  # columns that may hold NULL (statistics say so, or are missing)
    keys: dict[str, bytes] = field(default_factory=dict)  # file name -> DEK, when encrypted at rest


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def null_columns(meta: pq.FileMetaData, schema: pa.Schema) -> tuple[str, ...]:
    """Columns whose row-group statistics report NULLs, or give no null count (then assume some)."""
    out: list[str] = []
    for i, name in enumerate(schema.names):
        for rg in range(meta.num_row_groups):
            stats = meta.row_group(rg).column(i).statistics
            if stats is None or not stats.has_null_count or stats.null_count > 0:
                out.append(name)
                break
    return tuple(out)


class Vault:
    def __init__(self, root: Path, tmp: Path) -> None:
        self.root = root
        self.tmp = tmp

    def path_of(self, relative_path: str) -> Path:
        return self.root / relative_path

    def write_staged(self, reader: pa.RecordBatchReader) -> Path:
        """Stream batches into a staged Parquet file."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        staged = self.tmp / f"staged-{uuid.uuid4().hex}.parquet"
        try:
            self._write(staged, reader.schema, reader, False, staged.name)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        return staged

    def units_map_of(self, dataset_id: str, version: int) -> Path:
        """The dataset's units map as of `version` (see sandbox/workspace/units.py)."""
        return self.root / dataset_id / f"v{version}" / "units.parquet"

    def commit(
        self,
        schema: pa.Schema,
        batches: Iterable[pa.RecordBatch],
        dataset_id: str,
        version: int,
        units_map: Path | None = None,
        *,
        encrypt: bool = False,
    ) -> StoredVersion:
        """Write a version's data file from `batches` (and move its units map) to their immutable
        place, and hash the data. With `encrypt`, each is written encrypted under a fresh key
        (sandbox/vault_crypto.py) in the same pass."""
        rel = f"{dataset_id}/v{version}/data.parquet"
        dest = self.root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            raise FileExistsError(rel)
        keys: dict[str, bytes] = {}
        if units_map is not None:
            units_dest = self.units_map_of(dataset_id, version)
            self._place(units_map, units_dest, keys if encrypt else None)
        partial = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}")
        try:
            keys.update(self._write(partial, schema, batches, encrypt, dest.name))
            os.replace(partial, dest)
        finally:
            partial.unlink(missing_ok=True)
        dest.chmod(0o444)
        meta = self._metadata(dest, keys.get(dest.name))
        return StoredVersion(
            rel,
            dest,
            sha256_file(dest),
            dest.stat().st_size,
            meta.num_rows,
            schema,
            null_columns(meta, schema),
            keys,
        )

    @staticmethod
    def _write(
        path: Path, schema: pa.Schema, batches: Iterable[pa.RecordBatch], encrypt: bool, name: str
    ) -> dict[str, bytes]:
        """Stream `batches` into `path`, one row group of `ROW_GROUP_ROWS` held at a time."""
        from sandbox.vault_crypto import file_encryption

        props, key = file_encryption() if encrypt else (None, None)
        with pq.ParquetWriter(path, schema, compression="zstd", encryption_properties=props) as w:
            pending: list[pa.RecordBatch] = []
            rows = 0
            for batch in batches:
                pending.append(batch)
                rows += batch.num_rows
                if rows >= ROW_GROUP_ROWS:
                    w.write_table(pa.Table.from_batches(pending, schema), row_group_size=ROW_GROUP_ROWS)
                    pending, rows = [], 0
            if pending:
                w.write_table(pa.Table.from_batches(pending, schema), row_group_size=ROW_GROUP_ROWS)
        return {name: key()} if key is not None else {}

    @staticmethod
    def _metadata(path: Path, key: bytes | None) -> pq.FileMetaData:
        if key is None:
            return pq.ParquetFile(path, pre_buffer=False).metadata
        from sandbox.vault_crypto import decryption_properties

        return pq.ParquetFile(path, decryption_properties=decryption_properties(key)).metadata

    @staticmethod
    def _place(source: Path, dest: Path, keys: dict[str, bytes] | None) -> None:
        if keys is None:
            os.replace(source, dest)
        else:
            from sandbox.vault_crypto import encrypt_file

            keys[dest.name] = encrypt_file(source, dest)
            source.unlink(missing_ok=True)
        dest.chmod(0o444)

    def discard(self, dataset_id: str, version: int) -> None:
        """Remove a version whose catalog transaction failed (never one that was recorded)."""
        d = self.root / dataset_id / f"v{version}"
        if d.exists():
            for p in d.iterdir():
                p.chmod(0o644)
            shutil.rmtree(d)
