"""Vault files encrypted at rest, one key per file of a dataset version (crypto-shredding).

Writing: pyarrow's Parquet modular encryption (uniform AES-GCM, encrypted footer). Its key-management
layer hands each file's data encryption key (DEK) to a KMS client to wrap; ours keeps the DEK in memory
instead (`_CaptureKms`), and the DEK is sealed by the runtime's keyring (sandbox/keys.py) into the
catalog (`dataset_keys`), never written next to the file. DuckDB writes encrypted Parquet only with
the httpfs extension (OpenSSL), which a closed network cannot install; it *reads* it with its built-in
crypto, given the DEK as a footer key (`PRAGMA add_parquet_key` + `encryption_config`).

Reading: the workspace adds each view's key by name before its configuration is locked
(sandbox/workspace/views.py); operator SQL cannot reach it: `reads_only_views` refuses every table
function (`duckdb_settings()`, `duckdb_secrets()`, `which_secret`, ...) and the views name only the
key's name. Destroying a version = deleting its key row and its files.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pe

from sandbox.keys import Keyring

_FOOTER = "footer"

# DuckDB (2.0) fails to authenticate pages of pyarrow-encrypted files when a filter is pushed into the
# Parquet scan (static, join or top-n filters: "Computed AES tag differs"); plain scans decrypt fine.
# A workspace reading an encrypted file therefore keeps filters above the scan. Any other path that
# trips over it fails closed: the job fails with a sanitized code, nothing is read in clear.
SCAN_PUSHDOWN_OPTIMIZERS = (
    "filter_pushdown",
    "join_filter_pushdown",
    "top_n",
    "late_materialization",
    "row_group_pruner",
    "scalar_fn_pushdown",
    "sampling_pushdown",
)
DISABLE_PUSHDOWN_SQL = f"SET disabled_optimizers = '{','.join(SCAN_PUSHDOWN_OPTIMIZERS)}'"


class _CaptureKms(pe.KmsClient):
    """Receives the DEK pyarrow generated for a file and keeps it for the caller; wraps nothing."""

    def __init__(self, sink: dict[str, bytes]) -> None:
        super().__init__()
        self._sink = sink

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> bytes:
        self._sink[master_key_identifier] = bytes(key_bytes)
        return base64.b64encode(b"sandbox-catalog")  # the real key lives sealed in the catalog

    def unwrap_key(self, wrapped_key: bytes, master_key_identifier: str) -> bytes:
        return self._sink[master_key_identifier]


def encrypt_file(plain: Path, dest: Path) -> bytes:
    """Rewrite `plain` as an encrypted Parquet file at `dest` (row groups kept); returns its DEK."""
    sink: dict[str, bytes] = {}
    factory = pe.CryptoFactory(lambda _config: _CaptureKms(sink))
    props = factory.file_encryption_properties(
        pe.KmsConnectionConfig(),
        pe.EncryptionConfiguration(
            footer_key=_FOOTER,
            uniform_encryption=True,
            plaintext_footer=False,
            double_wrapping=False,
            data_key_length_bits=256,
            cache_lifetime=timedelta(seconds=1),
        ),
    )
    source = pq.ParquetFile(plain)
    try:
        with pq.ParquetWriter(
            dest, source.schema_arrow, compression="zstd", encryption_properties=props
        ) as w:
            for i in range(source.num_row_groups):
                w.write_table(source.read_row_group(i), row_group_size=1 << 20)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return sink[_FOOTER]


def key_name(path: Path | str) -> str:
    """The name a DuckDB connection knows a file's key by (no secret in it)."""
    return "vault_" + hashlib.sha256(str(path).encode("utf-8")).hexdigest()[:16]


def add_key_sql(name: str, key: bytes) -> str:
    return f"PRAGMA add_parquet_key('{name}', '{base64.b64encode(key).decode('ascii')}')"


def read_sql(path: str, name: str | None) -> str:
    """`read_parquet(...)` of a vault file, with its key's name when it is encrypted."""
    quoted = "'" + path.replace("'", "''") + "'"
    if name is None:
        return f"read_parquet({quoted})"
    return f"read_parquet({quoted}, encryption_config = {{footer_key: '{name}'}})"


def decrypt_to(encrypted: Path, key: bytes, dest: Path) -> None:
    """A plain copy of an encrypted file, for the registration step that reads it (the units map)."""
    name = key_name(encrypted)
    with duckdb.connect(":memory:") as con:
        con.execute("SET enable_progress_bar = false")
        con.execute(add_key_sql(name, key))
        target = "'" + str(dest).replace("'", "''") + "'"
        con.execute(f"COPY (SELECT * FROM {read_sql(str(encrypted), name)}) TO {target} (FORMAT parquet)")


def context(dataset_id: str, version: int) -> str:
    return f"dataset_version:{dataset_id}/{version}"


def seal(keyring: Keyring, dataset_id: str, version: int, keys: dict[str, bytes]) -> str:
    """The version's file keys (file name -> DEK) sealed under the master key, as hex text."""
    plain = json.dumps({k: base64.b64encode(v).decode("ascii") for k, v in keys.items()}).encode("utf-8")
    return keyring.seal(plain, context(dataset_id, version)).hex()


def unseal(keyring: Keyring, dataset_id: str, version: int, sealed: str) -> dict[str, bytes]:
    raw = json.loads(keyring.open(bytes.fromhex(sealed), context(dataset_id, version)))
    return {k: base64.b64decode(v) for k, v in raw.items()}
