"""Vault files encrypted at rest, one key per file of a dataset version (crypto-shredding).

Writing: pyarrow's Parquet modular encryption (uniform AES-GCM, encrypted footer). Its key-management
layer hands each file's data encryption key (DEK) to a KMS client to wrap; ours keeps the DEK in memory
instead (`_CaptureKms`), and the DEK is sealed by the runtime's keyring (sandbox/keys.py) into the
catalog (`dataset_keys`), never written next to the file.

Reading: pyarrow decrypts (`dataset_for`: a pyarrow dataset whose scans decrypt with the key held in
this process's memory), and the workspace registers that dataset with DuckDB under a hidden name the
view selects from (sandbox/workspace/views.py). DuckDB scans Arrow datasets with projection and filter
pushdown, so only the needed columns and row groups are decrypted. Why not DuckDB's own Parquet
encryption: it writes encrypted files only with the httpfs extension (OpenSSL), not installable on a
closed network, and DuckDB 2.0 fails the AES tag check on the data pages of pyarrow-encrypted files
(only statistics-answered queries worked). The key never enters DuckDB: no setting, secret or view
text holds it, and operator SQL is refused any table function or name but the views
(`reads_only_views`). Destroying a version = deleting its key row and its files.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pyarrow.dataset as pds
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pe

from sandbox.keys import Keyring

_FOOTER = "footer"


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


def file_encryption() -> tuple[pe.FileEncryptionProperties, Callable[[], bytes]]:
    """Properties that encrypt one new file under a fresh DEK, and how to get that DEK once written."""
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
    return props, lambda: sink[_FOOTER]


def encrypt_file(plain: Path, dest: Path) -> bytes:
    """Rewrite `plain` as an encrypted Parquet file at `dest` (row groups kept); returns its DEK."""
    props, key = file_encryption()
    source = pq.ParquetFile(plain, pre_buffer=False)
    try:
        with pq.ParquetWriter(
            dest, source.schema_arrow, compression="zstd", encryption_properties=props
        ) as w:
            for i in range(source.num_row_groups):
                w.write_table(source.read_row_group(i), row_group_size=1 << 20)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return key()


class _KeyKms(pe.KmsClient):
    """Hands pyarrow the one key it needs to open a file's footer and pages."""

    def __init__(self, key: bytes) -> None:
        super().__init__()
        self._key = key

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> bytes:
        raise RuntimeError("a reading key client wraps nothing")

    def unwrap_key(self, wrapped_key: bytes, master_key_identifier: str) -> bytes:
        return self._key


def decryption_properties(key: bytes) -> pe.FileDecryptionProperties:
    factory = pe.CryptoFactory(lambda _config: _KeyKms(key))
    return factory.file_decryption_properties(
        pe.KmsConnectionConfig(), pe.DecryptionConfiguration(cache_lifetime=timedelta(seconds=1))
    )


def dataset_for(path: Path | str, key: bytes) -> pds.Dataset:
    """A pyarrow dataset over one encrypted file; DuckDB can scan it once registered."""
    options = pds.ParquetFragmentScanOptions(decryption_properties=decryption_properties(key))
    return pds.dataset(str(path), format=pds.ParquetFileFormat(default_fragment_scan_options=options))


def relation_name(path: Path | str) -> str:
    """The hidden name a workspace registers a decrypting dataset under (no secret in it)."""
    return "__vault_" + hashlib.sha256(str(path).encode("utf-8")).hexdigest()[:16]


def decrypt_to(encrypted: Path, key: bytes, dest: Path) -> None:
    """A plain copy of an encrypted file, for the registration step that reads it (the units map)."""
    source = pq.ParquetFile(encrypted, decryption_properties=decryption_properties(key), pre_buffer=False)
    with pq.ParquetWriter(dest, source.schema_arrow) as w:
        for i in range(source.num_row_groups):
            w.write_table(source.read_row_group(i))


def context(dataset_id: str, version: int) -> str:
    return f"dataset_version:{dataset_id}/{version}"


def seal(keyring: Keyring, dataset_id: str, version: int, keys: dict[str, bytes]) -> str:
    """The version's file keys (file name -> DEK) sealed under the master key, as hex text."""
    plain = json.dumps({k: base64.b64encode(v).decode("ascii") for k, v in keys.items()}).encode("utf-8")
    return keyring.seal(plain, context(dataset_id, version)).hex()


def unseal(keyring: Keyring, dataset_id: str, version: int, sealed: str) -> dict[str, bytes]:
    raw = json.loads(keyring.open(bytes.fromhex(sealed), context(dataset_id, version)))
    return {k: base64.b64decode(v) for k, v in raw.items()}
