"""Synthetic previews: rows with a dataset's real schema and none of its values.

Operators develop against these (OpenSAFELY's dummy data): the same column names and Arrow types,
format-valid identifiers (resident IDs and credit codes with correct check characters, mobile
numbers with real prefixes, Luhn-valid bank cards), plausible Chinese names and addresses, the
declared public keys for group columns, numbers within the declared bounds and dates in a fixed
range. Everything is generated from the catalog's schema (type, level, detected entities, name hint,
bounds, public keys), never from data rows, so no value of any column can leak through a preview:
public columns are synthetic too.

A seed (from the dataset id and version) makes a preview repeatable. `synthetic_table` also builds
the data of dry runs, with the reserved `__unit` and `__rank` columns the workspace views expect.
"""

from __future__ import annotations

import hashlib
import random
import string
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session

from policies.classify import FOUND_SHARE
from policies.classify import recognizers as r
from sandbox.auth import Role, has_role, require
from sandbox.catalog.models import Column, Dataset, User
from sandbox.demo_data import AREA_CODES, GIVEN_CHARS, SURNAMES
from sandbox.errors import ErrorCode, SandboxError
from sandbox.runtime import Runtime
from sandbox.workspace.units import with_reserved

_MOBILE_PREFIXES = ("134", "135", "136", "137", "138", "139", "150", "151", "158", "186", "188", "199")
_PROVINCES = (
    ("广东省", "深圳市", ("福田区", "南山区", "宝安区")),
    ("北京市", "北京市", ("东城区", "海淀区")),
)
_STREETS = ("人民路", "建设路", "中山路", "解放路", "滨海大道")
_FIRST_DAY = date(2020, 1, 1)
_DAYS = 5 * 365


@dataclass(frozen=True)
class ColumnSpec:
    """What the catalog knows about a column: all a synthetic value is drawn from."""

    name: str
    type: str
    level: str
    entity: str | None = None  # the detected entity (share >= FOUND_SHARE) or the name hint
    lower: float | None = None
    upper: float | None = None
    public_keys: tuple[str, ...] | None = None


def spec_of(c: Column) -> ColumnSpec:
    found = [e for e, share in sorted((c.pii or {}).items(), key=lambda kv: -kv[1]) if share >= FOUND_SHARE]
    return ColumnSpec(
        name=c.name,
        type=c.type,
        level=c.level,
        entity=found[0] if found else c.name_hint,
        lower=c.lower,
        upper=c.upper,
        public_keys=tuple(c.public_keys) if c.public_keys else None,
    )


def resident_id(rng: random.Random) -> str:
    born = date(1950, 1, 1) + timedelta(days=rng.randrange(55 * 365))
    body = f"{rng.choice(AREA_CODES)}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return body + r.resident_id_check_char(body)


def uscc(rng: random.Random) -> str:
    body = "91" + rng.choice(AREA_CODES) + "".join(rng.choice(r.USCC_ALPHABET) for _ in range(9))
    return body + r.uscc_check_char(body)


def mobile(rng: random.Random) -> str:
    return rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def bank_card(rng: random.Random) -> str:
    body = "62" + "".join(rng.choice(string.digits) for _ in range(15))
    return body + r.luhn_check_digit(body)


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN_CHARS) for _ in range(rng.choice((1, 2))))


def address(rng: random.Random) -> str:
    province, city, districts = rng.choice(_PROVINCES)
    head = province if province == city else province + city
    return f"{head}{rng.choice(districts)}{rng.choice(_STREETS)}{rng.randrange(1, 999)}号"


_ENTITY_VALUES = {
    r.CN_RESIDENT_ID: resident_id,
    r.CN_USCC: uscc,
    r.CN_MOBILE: mobile,
    r.BANK_CARD: bank_card,
    r.PERSON_NAME: person_name,
    r.ADDRESS: address,
    r.CN_PASSPORT: lambda rng: "E" + f"{rng.randrange(10**8):08d}",
    r.CN_VEHICLE_PLATE: lambda rng: "粤B" + "".join(rng.choice("ABCDEFGHJK0123456789") for _ in range(5)),
    r.EMAIL_ADDRESS: lambda rng: f"user{rng.randrange(10**6)}@example.com",
    r.IP_ADDRESS: lambda rng: f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
    r.FREE_TEXT: lambda rng: f"示例文本{rng.randrange(100)}",
}


def _arrow_type(name: str) -> pa.DataType:
    if name.startswith("decimal"):
        precision, scale = (int(p) for p in name[name.index("(") + 1 : name.index(")")].split(","))
        return pa.decimal128(precision, scale)
    try:
        return pa.type_for_alias(name)
    except (ValueError, KeyError):
        return pa.string()


def _value(spec: ColumnSpec, t: pa.DataType, rng: random.Random, units: list[Any] | None) -> Any:
    if units is not None:
        return rng.choice(units)
    if spec.public_keys:
        key = rng.choice(spec.public_keys)
        if pa.types.is_integer(t):
            return int(key) if key.lstrip("-").isdigit() else None
        return key
    if pa.types.is_boolean(t):
        return rng.random() < 0.5
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        lower = spec.lower if spec.lower is not None else 0.0
        upper = spec.upper if spec.upper is not None else 100.0
        if pa.types.is_integer(t):
            return rng.randint(int(lower), int(upper))
        return round(rng.uniform(lower, upper), 2)
    if pa.types.is_date(t):
        return _FIRST_DAY + timedelta(days=rng.randrange(_DAYS))
    if pa.types.is_timestamp(t):
        return datetime(2020, 1, 1) + timedelta(seconds=rng.randrange(_DAYS * 86400))
    generate = _ENTITY_VALUES.get(spec.entity or "")
    if generate is not None:
        return generate(rng)
    if spec.level in ("group", "public"):
        return f"{spec.name}_{rng.randrange(1, 6)}"  # a few levels, as a group column has
    return f"{spec.name}_{rng.randrange(10**6):06d}"


def _numberless(t: pa.DataType) -> bool:
    return not (pa.types.is_floating(t) or pa.types.is_decimal(t) or pa.types.is_temporal(t))


def synthetic_table(
    specs: list[ColumnSpec], rows: int, seed: int, privacy_unit: str | None = None, rows_per_unit: int = 1
) -> pa.Table:
    """`rows` synthetic rows, one column per spec with its registered type.

    With `privacy_unit`, that column draws from a pool of rows/rows_per_unit synthetic units, so
    thresholds and dominance behave as over data with that many rows per unit.

    >>> spec = ColumnSpec("身份证号", "string", "join_key", "CN_RESIDENT_ID")
    >>> t = synthetic_table([spec, ColumnSpec("n", "int64", "aggregate", None, 1, 3)], 5, seed=1)
    >>> all(r.valid_resident_id(v) for v in t.column("身份证号").to_pylist())
    True
    >>> all(1 <= v <= 3 for v in t.column("n").to_pylist())
    True
    """
    rng = random.Random(seed)
    arrays = []
    fields = []
    for spec in specs:
        t = _arrow_type(spec.type)
        units = None
        if spec.name == privacy_unit:
            pool = max(1, rows // max(1, rows_per_unit))
            base = ColumnSpec(spec.name, spec.type, "hidden", spec.entity)
            units = sorted({_value(base, t, rng, None) for _ in range(pool)}, key=str)
        elif spec.level in ("group", "public") and not spec.public_keys and _numberless(t):
            # a grouping column has few levels: five synthetic ones, in the column's format
            units = sorted({_value(spec, t, rng, None) for _ in range(5)}, key=str)
        values = [_value(spec, t, rng, units) for _ in range(rows)]
        try:
            arrays.append(pa.array(values, type=t))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            t = pa.string()
            arrays.append(pa.array([None if v is None else str(v) for v in values], type=t))
        fields.append(pa.field(spec.name, t))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def seed_of(dataset_id: str, version: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{dataset_id}:{version}".encode()).digest()[:8], "big")


def specs(s: Session, ds: Dataset) -> list[ColumnSpec]:
    cols = s.execute(select(Column).where(Column.dataset_id == ds.id).order_by(Column.position)).scalars()
    return [spec_of(c) for c in cols]


def write_synthetic(
    s: Session, ds: Dataset, version: int, rows_per_unit: int, path: Path, rows: int = 2000
) -> Path:
    """A synthetic vault-like file for a dry run: the schema, then `__unit` and `__rank`."""
    table = synthetic_table(specs(s, ds), rows, seed_of(ds.id, version), ds.privacy_unit, rows_per_unit)
    pq.write_table(with_reserved(table, ds.privacy_unit), path)
    return path


def preview(rt: Runtime, actor: User, dataset_id: str, rows: int = 20) -> dict[str, Any]:
    """Synthetic rows for operators, the owning source unit and admins; clearly marked synthetic."""
    require(actor, Role.operator, Role.source_unit, Role.admin)
    with rt.catalog.session() as s:
        ds = s.get(Dataset, dataset_id)
        if ds is None:
            raise SandboxError(ErrorCode.not_found, kind="dataset")
        owner = ds.owner_id == actor.id or (actor.unit is not None and ds.owner_unit == actor.unit)
        if not has_role(actor, Role.operator, Role.admin) and not owner:
            raise SandboxError(ErrorCode.not_found, kind="dataset")
        column_specs = specs(s, ds)
        table = synthetic_table(column_specs, rows, seed_of(ds.id, ds.current_version))
        version = ds.current_version
    from sandbox.release import _json_value

    return {
        "synthetic": True,
        "dataset_id": dataset_id,
        "version": version,
        "columns": [{"name": c.name, "type": c.type, "level": c.level} for c in column_specs],
        "rows": [[_json_value(v) for v in row.values()] for row in table.to_pylist()],
    }
