"""The vault: immutable, versioned Parquet files with their sha256.

A version is written to a temporary file first and moved into place only when complete, so a failed
registration leaves nothing behind. Files are made read-only once in place.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


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
        """Stream batches into a staged Parquet file (row groups of ~1M rows for fast scans)."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        staged = self.tmp / f"staged-{uuid.uuid4().hex}.parquet"
        try:
            with pq.ParquetWriter(staged, reader.schema, compression="zstd") as writer:
                for batch in reader:
                    writer.write_batch(batch, row_group_size=1 << 20)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        return staged

    def units_map_of(self, dataset_id: str, version: int) -> Path:
        """The dataset's units map as of `version` (see sandbox/workspace/units.py)."""
        return self.root / dataset_id / f"v{version}" / "units.parquet"

    def commit(
        self,
        staged: Path,
        dataset_id: str,
        version: int,
        units_map: Path | None = None,
        *,
        encrypt: bool = False,
    ) -> StoredVersion:
        """Move a staged file (and its units map) to their immutable place and hash the data. With
        `encrypt`, each is rewritten encrypted under a fresh key instead (sandbox/vault_crypto.py)."""
        rel = f"{dataset_id}/v{version}/data.parquet"
        dest = self.root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            raise FileExistsError(rel)
        meta = pq.ParquetFile(staged).metadata
        schema = pq.read_schema(staged)
        keys: dict[str, bytes] = {}
        if units_map is not None:
            units_dest = self.units_map_of(dataset_id, version)
            self._place(units_map, units_dest, keys if encrypt else None)
        self._place(staged, dest, keys if encrypt else None)
        nulls = null_columns(meta, schema)
        return StoredVersion(
            rel, dest, sha256_file(dest), dest.stat().st_size, meta.num_rows, schema, nulls, keys
        )

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
