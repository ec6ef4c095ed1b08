"""Vault files encrypted at rest: no plaintext on disk, readable only with the key, which a locked
workspace holds but operator SQL cannot reach."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from policies.levels import ColumnLevel
from sandbox import vault_crypto
from sandbox.errors import ErrorCode
from sandbox.keys import Keyring
from sandbox.workspace import Limits, ViewSpec, WorkspaceRequest, run
from sandbox.workspace.runner import RESULT_NAME

SECRET = "SECRET-WANG-7731"


@pytest.fixture
def encrypted(tmp_path: Path) -> tuple[Path, bytes]:
    plain = tmp_path / "plain.parquet"
    pq.write_table(
        pa.table(
            {
                "person_id": [f"P{i:03d}" for i in range(50)],
                "district": [("东城", "西城")[i % 2] for i in range(50)],
                "name": [SECRET if i == 0 else f"n{i}" for i in range(50)],
                "__unit": list(range(50)),
                "__rank": [1] * 50,
            }
        ),
        plain,
    )
    dest = tmp_path / "vault" / "data.parquet"
    dest.parent.mkdir()
    key = vault_crypto.encrypt_file(plain, dest)
    plain.unlink()
    return dest, key


def test_no_plaintext_and_no_read_without_the_key(encrypted: tuple[Path, bytes]) -> None:
    path, key = encrypted
    assert len(key) == 32
    raw = path.read_bytes()
    assert SECRET.encode() not in raw and "东城".encode() not in raw and b"person_id" not in raw
    with pytest.raises(Exception):  # noqa: B017 - pyarrow and DuckDB raise their own types
        pq.read_table(path)
    with duckdb.connect() as con, pytest.raises(duckdb.Error):
        con.execute(f"SELECT * FROM read_parquet('{path}')").fetchall()
    with pytest.raises(Exception):  # noqa: B017 - the wrong key fails the AES-GCM tag check
        vault_crypto.dataset_for(path, bytes(32)).to_table()
    table = vault_crypto.dataset_for(path, key).to_table()
    assert table.num_rows == 50 and SECRET in table.column("name").to_pylist()


def _request(path: Path, key: bytes, sql: str, work_dir: Path) -> WorkspaceRequest:
    view = ViewSpec(
        "people",
        path,
        (("person_id", ColumnLevel.join_key), ("district", ColumnLevel.group), ("name", ColumnLevel.hidden)),
        b"k",
        key=key,
    )
    work_dir.mkdir(exist_ok=True)
    return WorkspaceRequest("job-1", (view,), sql, work_dir, Limits(memory_mb=256, timeout_s=30))


@pytest.mark.parametrize("backend", ["inprocess", "process"])
def test_locked_workspace_reads_it_and_the_key_is_unreachable(
    encrypted: tuple[Path, bytes], tmp_path: Path, backend: str
) -> None:
    path, key = encrypted
    ok = run(
        _request(path, key, "SELECT district, COUNT(*) AS n FROM people GROUP BY district", tmp_path / "w"),
        backend,
    )
    assert ok.ok and ok.rows == 2
    for sql in (
        "SELECT * FROM duckdb_settings()",
        "SELECT name, value FROM duckdb_settings() WHERE value LIKE '%='",
        "SELECT * FROM duckdb_secrets()",
        "SELECT * FROM which_secret('x', 'parquet')",
        "SELECT sql FROM duckdb_views()",
        "SELECT current_setting('parquet_encryption_key')",
        f"SELECT * FROM read_parquet('{path}')",
        f"SELECT COUNT(*) FROM {vault_crypto.relation_name(str(path))}",  # the hidden decrypting relation
        f"SELECT * FROM read_parquet('{path}', encryption_config = {{footer_key: 'k'}})",
    ):
        result = run(_request(path, key, sql, tmp_path / "w"), backend)
        assert not result.ok and result.error in (
            ErrorCode.query_failed,
            ErrorCode.query_conversion_failed,
        ), sql
        assert not (tmp_path / "w" / RESULT_NAME).exists()


def test_settings_do_not_show_the_key(encrypted: tuple[Path, bytes]) -> None:
    """Even from inside (not reachable by operators anyway): no setting or secret holds the key."""
    import base64

    path, key = encrypted
    from sandbox.workspace.runner import open_locked

    view = ViewSpec("people", path, (("district", ColumnLevel.group),), b"k", key=key)
    con = open_locked((view,), Limits(memory_mb=256), path.parent)
    try:
        text = str(con.execute("SELECT * FROM duckdb_settings()").fetchall())
        text += str(con.execute("SELECT * FROM duckdb_secrets()").fetchall())
        text += str(con.execute("SELECT sql FROM duckdb_views()").fetchall())
        assert base64.b64encode(key).decode() not in text and key.hex() not in text
    finally:
        con.close()


def test_sealed_keys_open_only_in_their_context() -> None:
    ring = Keyring(bytes(range(32)))
    sealed = vault_crypto.seal(ring, "ds_1", 2, {"data.parquet": b"\x01" * 32})
    assert vault_crypto.unseal(ring, "ds_1", 2, sealed) == {"data.parquet": b"\x01" * 32}
    from cryptography.exceptions import InvalidTag

    with pytest.raises(InvalidTag):
        vault_crypto.unseal(ring, "ds_1", 3, sealed)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT district, COUNT(*) AS n FROM people WHERE __unit > 3 GROUP BY district",
        "SELECT COUNT(*) AS n FROM people WHERE district = '东城'",
        "SELECT district FROM people ORDER BY __unit DESC LIMIT 2",
        "SELECT COUNT(*) AS n FROM people a JOIN people b ON a.person_id = b.person_id WHERE a.__unit < 10",
        "SELECT COUNT(DISTINCT person_id) AS n FROM people WHERE district IN (SELECT district FROM people)",
    ],
)
def test_filtered_reads_of_an_encrypted_file_work(
    encrypted: tuple[Path, bytes], tmp_path: Path, sql: str
) -> None:
    """Filters, joins and top-n read data pages of an encrypted file (DuckDB's own decryption failed them)."""
    path, key = encrypted
    result = run(_request(path, key, sql, tmp_path / "w"), "inprocess")
    assert result.ok, result.error


def test_a_multi_page_file_reads_whole(tmp_path: Path) -> None:
    """60,000 rows in many pages: all read back (DuckDB's own decryption of pyarrow's pages failed)."""
    plain, dest = tmp_path / "p.parquet", tmp_path / "e.parquet"
    ids = [f"R{u:04d}" for u in range(20) for _ in range(3000)]
    units = [int(i[1:]) for i in ids]
    columns = {
        "person_id": ids,
        "district": ids,
        "name": ids,
        "__unit": units,
        "__rank": list(range(len(ids))),
    }
    pq.write_table(pa.table(columns), plain, data_page_size=4096)
    key = vault_crypto.encrypt_file(plain, dest)
    sql = "SELECT a.district, COUNT(*) AS n FROM people a JOIN people b USING (person_id) GROUP BY a.district"
    for backend in ("inprocess", "process"):
        result = run(_request(dest, key, sql, tmp_path / "w"), backend)
        assert result.ok and result.rows == 20, (backend, result.error)
    out = tmp_path / "plain-again.parquet"
    vault_crypto.decrypt_to(dest, key, out)
    assert pq.read_table(out).column("person_id").to_pylist() == ids
