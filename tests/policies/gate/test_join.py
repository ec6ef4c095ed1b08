"""Joins between granted tables: the plan names every table, and its unit counts cover each of them."""

from __future__ import annotations

from policies.gate import check
from policies.gate.plan import ColumnGrant, GateContext, OutputKind, TableGrant
from policies.gate.reasons import ReasonCode
from policies.levels import ColumnLevel

JOIN = "FROM residents r JOIN visits v ON r.resident_id = v.resident_id"


def test_join_plan_lists_every_table_and_the_columns_it_touches(ctx: GateContext) -> None:
    sql = (
        f"SELECT r.district, v.clinic, SUM(v.cost) AS total {JOIN} WHERE r.sex = 'F' "
        "GROUP BY r.district, v.clinic"
    )
    plan = check(sql, ctx).plan
    assert plan is not None
    assert plan.tables == ("residents", "visits")
    assert plan.columns_used == {
        "residents": ("district", "resident_id", "sex"),
        "visits": ("clinic", "cost", "resident_id"),
    }
    assert [(o.name, o.kind, o.source_column, o.source_table, o.units_column) for o in plan.outputs] == [
        ("district", OutputKind.group, "district", "residents", None),
        ("clinic", OutputKind.group, "clinic", "visits", None),
        ("total", OutputKind.sum, "cost", "visits", "__units_2"),
    ]


def test_join_never_takes_the_one_row_per_unit_shortcut(contexts: dict[str, GateContext]) -> None:
    plan = check(f"SELECT r.sex, SUM(r.rooms) AS rooms {JOIN} GROUP BY r.sex", contexts["one"]).plan
    assert plan is not None
    assert "COUNT(*)" not in plan.sql
    assert (
        'LEAST(COUNT(DISTINCT "residents"."__unit"), COUNT(DISTINCT "visits"."__unit")) '
        'AS "__units"' in plan.sql
    )
    assert plan.outputs[1].units_column == "__units_1"


def test_reference_table_does_not_count_but_a_table_used_through_public_columns_does(
    ctx: GateContext,
) -> None:
    plan = check(
        "SELECT v.kind, d.population, COUNT(*) AS n FROM visits v "
        "JOIN districts d ON v.district = d.district GROUP BY v.kind, d.population",
        ctx,
    ).plan
    assert plan is not None
    assert 'COUNT(DISTINCT "visits"."__unit") AS "__units"' in plan.sql
    assert "LEAST" not in plan.sql and '"districts"."district")' not in plan.sql.split("FROM")[0]
    assert plan.columns_used["districts"] == ("district", "population")


def _public_table(name: str) -> TableGrant:
    columns = {c: ColumnGrant(c, ColumnLevel.public) for c in ("code", "label")}
    return TableGrant(name, f"ds-{name}", columns, frozenset(columns), "code", 1)


def test_when_every_table_is_a_reference_table_all_count() -> None:
    ctx = GateContext(tables={"a": _public_table("a"), "b": _public_table("b")})
    plan = check("SELECT a.label, COUNT(*) AS n FROM a JOIN b ON a.code = b.code GROUP BY a.label", ctx).plan
    assert plan is not None
    assert 'LEAST(COUNT(DISTINCT "a"."__unit"), COUNT(DISTINCT "b"."__unit")) AS "__units"' in plan.sql


def test_ambiguous_column_is_placed_and_hinted(ctx: GateContext) -> None:
    (reason,) = check(f"SELECT COUNT(*) {JOIN} WHERE district = 'x'", ctx).reasons
    assert reason.code is ReasonCode.ambiguous_name and reason.construct == "district"
    assert "Qualify" in reason.hint and reason.position is not None


def test_join_reasons_never_quote_a_literal(ctx: GateContext) -> None:
    sql = (
        "SELECT COUNT(*) FROM residents r JOIN visits v ON r.resident_id = 'SECRET-JOIN' AND r.year < v.year"
    )
    decision = check(sql, ctx)
    assert {reason.code for reason in decision.reasons} == {ReasonCode.construct_not_allowed}
    assert "SECRET-JOIN" not in str([reason.to_dict() for reason in decision.reasons])
