"""Template parameters: typed admissible sets, placement, binding on the tree, the check for every value."""

from __future__ import annotations

import pytest

from policies.gate.params import (
    ParamError,
    ParamProblem,
    ParamSchema,
    bind,
    check_placement,
    check_template,
    parse_schema,
)
from policies.gate.plan import ColumnGrant, GateContext, TableGrant
from policies.levels import ColumnLevel

COLUMNS = {
    "district": ColumnGrant("district", ColumnLevel.group, ("东区", "西区", "O'Hare"), "string"),
    "sex": ColumnGrant("sex", ColumnLevel.group, None, "string"),
    "pid": ColumnGrant("pid", ColumnLevel.join_key, None, "string"),
    "year": ColumnGrant("year", ColumnLevel.compare, None, "int64"),
    "born": ColumnGrant("born", ColumnLevel.compare, None, "date32[day]"),
    "income": ColumnGrant("income", ColumnLevel.aggregate, None, "int64", lower=0, upper=100),
    "note": ColumnGrant("note", ColumnLevel.hidden, None, "string"),
}
TABLES = {"r": TableGrant("r", "ds-1", COLUMNS, frozenset(COLUMNS), "pid", 1)}
CTX = GateContext(tables=TABLES)
SCHEMA = {
    "d": {"type": "enum", "column": "r.district"},
    "y": {"type": "int", "min": 2015, "max": 2024},
    "since": {"type": "date", "min": "2000-01-01", "max": "2010-12-31"},
}
SQL = (
    "SELECT district, COUNT(*) AS n FROM r WHERE district = :d AND year BETWEEN :y AND 2030 "
    "AND born >= :since AND born < DATE '2020-01-01' GROUP BY district"
)


def schema() -> ParamSchema:
    return parse_schema(SCHEMA, TABLES)


def test_binding_replaces_placeholders_with_literal_nodes_and_keeps_typed_dates() -> None:
    bound = bind(SQL, schema(), {"d": "O'Hare", "y": 2020, "since": "2005-06-30"})
    assert "district = 'O''Hare'" in bound  # quoted by the generator, never pasted
    assert "BETWEEN 2020 AND 2030" in bound and "born >= DATE '2005-06-30'" in bound
    assert "born < DATE '2020-01-01'" in bound  # the template's own typed literal survives the rendering


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"d": "北区", "y": 2020, "since": "2005-01-01"}, ParamProblem.param_not_admissible),
        ({"d": "东区' OR 1=1 --", "y": 2020, "since": "2005-01-01"}, ParamProblem.param_not_admissible),
        ({"d": "东区", "y": 2025, "since": "2005-01-01"}, ParamProblem.param_not_admissible),
        ({"d": "东区", "y": True, "since": "2005-01-01"}, ParamProblem.param_not_admissible),
        ({"d": "东区", "y": 2020.5, "since": "2005-01-01"}, ParamProblem.param_not_admissible),
        ({"d": "东区", "y": 2020, "since": "2011-01-01"}, ParamProblem.param_not_admissible),
        ({"d": "东区", "y": 2020, "since": "2005-1-1"}, ParamProblem.param_not_admissible),
        ({"d": "东区", "y": 2020}, ParamProblem.param_missing),
        ({"d": "东区", "y": 2020, "since": "2005-01-01", "z": 1}, ParamProblem.param_unknown),
    ],
)
def test_a_value_outside_its_admissible_set_is_refused_by_name(values: dict, problem: ParamProblem) -> None:
    with pytest.raises(ParamError) as caught:
        bind(SQL, schema(), values)
    assert caught.value.code is problem
    assert all(str(v) not in str(caught.value) for k, v in values.items() if k == "d")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT district, COUNT(*) AS n FROM r WHERE income > :y GROUP BY district",  # aggregate column
        "SELECT district, COUNT(*) AS n FROM r WHERE pid = :d GROUP BY district",  # join key
        "SELECT district, COUNT(*) AS n FROM r GROUP BY district LIMIT :y",  # not a test
        "SELECT district, COUNT(*) + :y AS n FROM r GROUP BY district",  # arithmetic in the output
        "SELECT CASE WHEN year > 2000 THEN :d END AS k, COUNT(*) AS n FROM r GROUP BY k",  # a CASE result
        "SELECT district, COUNT(*) AS n FROM r WHERE district = :y GROUP BY district",  # int vs text
        "SELECT district, COUNT(*) AS n FROM r WHERE year = :d GROUP BY district",  # text vs number
    ],
)
def test_a_placeholder_stands_only_where_a_literal_of_a_placeable_column_may(sql: str) -> None:
    one = {"d": SCHEMA["d"], "y": SCHEMA["y"]}
    used = {name: spec for name, spec in one.items() if f":{name}" in sql}
    with pytest.raises(ParamError) as caught:
        check_placement(sql, parse_schema(used, TABLES), TABLES)
    assert caught.value.code is ParamProblem.param_misplaced


def test_an_enum_needs_a_column_with_public_keys_and_a_subset_of_them() -> None:
    for spec in (
        {"type": "enum", "column": "r.sex"},  # no declared public keys
        {"type": "enum", "column": "r.nope"},
        {"type": "enum", "column": "r.district", "values": ["东区", "北区"]},
        {"type": "int", "min": 5, "max": 1},
        {"type": "date", "min": "2020-13-01", "max": "2021-01-01"},
        {"type": "float"},
    ):
        with pytest.raises(ParamError) as caught:
            parse_schema({"x": spec}, TABLES)
        assert caught.value.code is ParamProblem.param_schema_invalid


def test_a_declared_parameter_must_be_used_and_a_used_one_declared() -> None:
    with pytest.raises(ParamError) as unused:
        check_placement("SELECT district, COUNT(*) AS n FROM r GROUP BY district", schema(), TABLES)
    assert unused.value.code is ParamProblem.param_schema_invalid
    with pytest.raises(ParamError) as undeclared:
        check_placement("SELECT COUNT(*) AS n FROM r WHERE year = :q", ParamSchema(()), TABLES)
    assert undeclared.value.code is ParamProblem.param_unknown


def test_the_gate_is_checked_for_every_enum_value_and_both_ends_of_each_range() -> None:
    checked = check_template(SQL, schema(), CTX)
    assert checked.decision.allowed and checked.refused_with is None
    assert (
        checked.probes == 1 + (3 - 1) + 1 + 1
    )  # base, the other two districts, the other end of y, of since
    assert all(o.name in ("district", "n") for o in checked.decision.plan.outputs)


def test_a_template_the_gate_refuses_reports_the_reasons() -> None:
    sql = "SELECT note, COUNT(*) AS n FROM r WHERE district = :d GROUP BY note"
    checked = check_template(sql, parse_schema({"d": SCHEMA["d"]}, TABLES), CTX)
    assert not checked.decision.allowed
    assert {r.code.value for r in checked.decision.reasons} >= {"hidden_column"}


def test_an_operand_the_gate_refuses_is_refused_for_the_template() -> None:
    sql = "SELECT district, COUNT(*) AS n FROM r WHERE year + 1 = :y GROUP BY district"
    checked = check_template(sql, parse_schema({"y": SCHEMA["y"]}, TABLES), CTX)
    assert not checked.decision.allowed and checked.refused_with == {"y": 2015}


def test_the_schema_round_trips_as_stored() -> None:
    s = schema()
    assert ParamSchema.from_dict(s.to_dict()) == s
    assert s.to_dict()["d"]["values"] == ["东区", "西区", "O'Hare"]
