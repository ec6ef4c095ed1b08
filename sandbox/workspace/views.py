"""Views over vault files: the only tables a workspace query can read.

Each `ViewSpec` becomes one view that selects ONLY the granted columns, desensitized per level:
`hidden` columns never appear (even if a caller passes them), `join_key` columns become an
HMAC-SHA256 of their text under the scenario's key (same name, hex string), everything else passes
through. `reads_only_views` then checks, on DuckDB's own parse tree, that a query reads nothing but
these views: the vault path must stay on DuckDB's allow-list for the views to work, so without this
check `read_parquet('<vault path>')` or `duckdb_views()` (which shows the key) would be reachable.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from policies.levels import ColumnLevel
from sandbox.vault_crypto import dataset_for, relation_name
from sandbox.workspace.desensitize import Desensitization, expression

RESERVED = ("__unit", "__rank")  # sandbox/workspace/units.py materialises them in every vault file


@dataclass(frozen=True)
class ViewSpec:
    """One dataset as a job sees it."""

    name: str  # table name the SQL uses
    parquet_path: Path  # vault file (read-only)
    columns: tuple[tuple[str, ColumnLevel], ...]  # granted columns with effective levels
    join_key_secret: bytes = b""  # per-scenario key for the HMAC of join_key columns
    key: bytes | None = None  # the file's key when the vault file is encrypted (sandbox/vault_crypto.py)
    desensitize: Mapping[str, Desensitization] = field(default_factory=dict)  # column -> method (grant)


def quote_ident(name: str) -> str:
    """A DuckDB identifier, whatever it contains.

    >>> quote_ident('收入"元')
    '"收入""元"'
    """
    return '"' + name.replace('"', '""') + '"'


def quote_str(text: str) -> str:
    """A DuckDB string literal (paths included).

    >>> quote_str("/vault/it's.parquet")
    "'/vault/it''s.parquet'"
    """
    return "'" + text.replace("'", "''") + "'"


def path_of(view: ViewSpec) -> str:
    """The exact path string used both in `allowed_paths` and in the view, so they always match."""
    return str(Path(view.parquet_path).absolute())


def hmac_sql(column_sql: str, key: bytes) -> str:
    """HMAC-SHA256(key, CAST(column AS VARCHAR)) as hex, written with DuckDB's sha256 (RFC 2104).

    The key is padded and xor-ed here, so SQL only sees the two pads; NULL stays NULL.
    Equal values under one scenario key hash equal, so equality joins still work, while a
    guessable identifier (resident ID, credit code) cannot be confirmed without the key.
    """
    block = hashlib.sha256(key).digest() if len(key) > 64 else key
    block = block.ljust(64, b"\0")
    inner = bytes(b ^ 0x36 for b in block).hex()
    outer = bytes(b ^ 0x5C for b in block).hex()
    message = f"encode(CAST({column_sql} AS VARCHAR))"
    return f"sha256(from_hex('{outer}') || from_hex(sha256(from_hex('{inner}') || {message})))"


def view_sql(view: ViewSpec) -> str:
    """The CREATE VIEW statement for one spec.

    >>> cols = (("id", ColumnLevel.join_key), ("note", ColumnLevel.hidden))
    >>> spec = ViewSpec("p", Path("/v/p.parquet"), cols)
    >>> view_sql(spec).startswith('CREATE VIEW "p" AS SELECT sha256(')
    True
    >>> '"note"' in view_sql(spec)
    False
    """
    items = []
    for column, level in view.columns:
        col = quote_ident(column)
        if level == ColumnLevel.hidden:
            continue
        if level == ColumnLevel.join_key:
            items.append(f"{hmac_sql(col, view.join_key_secret)} AS {col}")
        elif column in view.desensitize:  # declared in the grant: see desensitize.py
            items.append(f"{expression(view.desensitize[column], col, view.join_key_secret)} AS {col}")
        else:
            items.append(col)
    if not items:
        raise ValueError(f"view {view.name!r} has no granted column")
    items += [quote_ident(name) for name in RESERVED]  # never nameable by operators: see units.py
    source = relation_name(path_of(view)) if view.key else f"read_parquet({quote_str(path_of(view))})"
    return f"CREATE VIEW {quote_ident(view.name)} AS SELECT {', '.join(items)} FROM {source}"


def setup(con: duckdb.DuckDBPyConnection, views: Sequence[ViewSpec], *, cache_mb: int = 0) -> None:
    """Create one view per spec; the connection must already allow exactly these paths. Encrypted
    files are registered as decrypting Arrow datasets under a hidden name; the key stays in
    this process's memory, never in DuckDB (no setting, secret or view text holds it).

    With `cache_mb` (warm workspaces, which serve one view set many times) a view whose file is at
    most that size is computed once into an in-memory table of this DuckDB, so a call neither
    decrypts the file nor recomputes join-key HMACs and desensitization again. The table holds
    exactly what the view shows and lives only in the workspace's memory; queries still name the
    view (`reads_only_views` refuses the table's own name). Past the memory limit it stays a view.
    """
    for i, view in enumerate(views):
        if view.key:  # an encrypted vault file: pyarrow decrypts, DuckDB scans (sandbox/vault_crypto.py)
            con.register(relation_name(path_of(view)), dataset_for(path_of(view), view.key))
        con.execute(view_sql(view))
        if cache_mb > 0 and Path(path_of(view)).stat().st_size <= cache_mb * 2**20:
            _cache(con, view, f"{CACHE_PREFIX}{i}")


CACHE_PREFIX = "__cache_"  # in-memory copies of views (warm workspaces): never nameable by a query


def _cache(con: duckdb.DuckDBPyConnection, view: ViewSpec, table: str) -> None:
    name, cached = quote_ident(view.name), quote_ident(table)
    try:
        con.execute(f"CREATE TABLE {cached} AS SELECT * FROM {name}")
    except duckdb.Error:  # out of memory (or space): the view keeps reading the file
        con.execute(f"DROP TABLE IF EXISTS {cached}")
        return
    con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {cached}")
    if view.key:  # nothing reads the decrypting dataset any more
        con.unregister(relation_name(path_of(view)))


# Parse-tree node types a query may contain as a table reference or query node. Anything else
# (TABLE_FUNCTION, SHOW_REF, ...) is refused: allow-list, not deny-list.
_SAFE_REFS = frozenset(
    {
        "SELECT_NODE",
        "SET_OPERATION_NODE",
        "RECURSIVE_CTE_NODE",
        "CTE_NODE",
        "EMPTY",
        "JOIN",
        "SUBQUERY",
        "EXPRESSION_LIST",
        "BASE_TABLE",
    }
)
# CTE names must be plain words: a name like 'x.parquet' could resolve to a file outside its scope,
# and one in the workspace's own `__` namespace (`__vault_...`, `__cache_...`) to its hidden relation.
_CTE_NAME = re.compile(r"(?!__)\w+")


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    if isinstance(tree, dict):
        yield tree
        for value in tree.values():
            yield from _nodes(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _nodes(value)


def reads_only_views(con: duckdb.DuckDBPyConnection, sql: str, view_names: Sequence[str]) -> bool:
    """True when `sql` is one SELECT whose every table reference is a view or a plain-named CTE.

    Uses DuckDB's own parser (`json_serialize_sql`), so what is checked is what will run.
    >>> con = duckdb.connect()
    >>> reads_only_views(con, "SELECT COUNT(*) FROM p", ["p"])
    True
    >>> reads_only_views(con, "SELECT * FROM read_parquet('/vault/p.parquet')", ["p"])
    False
    """
    rows = con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()
    tree = json.loads(rows[0][0]) if rows else {"error": True}
    if tree.get("error") or len(tree.get("statements", [])) != 1:
        return False
    nodes = list(_nodes(tree["statements"]))
    ctes = {entry["key"] for node in nodes for entry in (node.get("cte_map") or {}).get("map", [])}
    if not all(_CTE_NAME.fullmatch(name) for name in ctes):
        return False
    allowed = {name.lower() for name in (*view_names, *ctes)}
    for node in nodes:
        if "class" in node or "sample" not in node:  # expressions and other parts, not table refs
            continue
        kind = node.get("type")
        if not isinstance(kind, str) or kind not in _SAFE_REFS:
            return False
        qualified = node.get("schema_name") or node.get("catalog_name")
        if kind == "BASE_TABLE" and (qualified or str(node.get("table_name")).lower() not in allowed):
            return False
    return True
