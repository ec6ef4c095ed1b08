"""Benchmark: the gate's decision time (`policies.gate.check`) over the gate's SQL corpus, next to
sqlglot's parse time alone on the same queries, as a ratio. Target (issue 4): median under 2 ms per query.

The corpus is the operator SQL of `tests/policies/gate/cases/allowed.sql` and `rejected.sql`, read by
a small copy of the test loader, checked against the grants the gate tests use (loaded from their
fixture module). Each query is timed `--repeat` times; its median is its time, and the median and p99
are taken over those per-query medians.

    .venv/bin/python bench/gate.py
    .venv/bin/python bench/gate.py --repeat 50
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlglot

from policies.gate import check
from policies.gate.plan import GateContext

CASES = Path(__file__).resolve().parent.parent / "tests" / "policies" / "gate" / "cases"


def gate_context(rows_per_unit: str) -> GateContext:
    """The grants the gate's case tests use, loaded from their fixture module so the two never drift."""
    spec = importlib.util.spec_from_file_location("gate_case_grants", CASES.parent / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    context: GateContext = module.gate_context(rows_per_unit)
    return context


@dataclass(frozen=True)
class Query:
    sql: str
    rows_per_unit: str  # "one" or "many": which grant variant the case is checked against


def corpus() -> list[Query]:
    """The operator's SQL of every case: the first statement of an allowed case (the second is its
    expected rewrite), the only statement of a rejected one."""
    queries = []
    for name in ("allowed.sql", "rejected.sql"):
        text = (CASES / name).read_text(encoding="utf-8")
        parts = re.split(r"^-- title:[ \t]*(.+?)[ \t]*$", text, flags=re.MULTILINE)
        for body in parts[2::2]:
            lines = body.strip("\n").splitlines()
            options = {}
            while lines and (option := re.fullmatch(r"--[ \t]*(\w+):[ \t]*(.*)", lines[0].strip())):
                options[option[1]] = option[2].strip()
                lines.pop(0)
            statements = [s.strip() for s in re.split(r";[ \t]*\n", "\n".join(lines) + "\n") if s.strip()]
            queries.append(Query(statements[0], options.get("rows_per_unit", "one")))
    return queries


def per_query_medians(queries: list[Query], step: Callable[[Query], object], repeat: int) -> list[float]:
    """Each query's median time in seconds over `repeat` runs (after one warm-up run)."""
    medians = []
    for query in queries:
        step(query)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            step(query)
            times.append(time.perf_counter() - started)
        medians.append(statistics.median(times))
    return medians


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def parse_only(query: Query) -> None:
    # The gate's parse_error cases are timed up to the failure, as the gate times them.
    with contextlib.suppress(sqlglot.errors.SqlglotError):
        sqlglot.parse(query.sql, read="duckdb")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20, help="runs per query (default 20)")
    args = ap.parse_args()
    # sqlglot warns when it falls back to a raw Command (LOAD, CALL, ...); the gate never lets it.
    logging.getLogger("sqlglot").setLevel(logging.ERROR)

    queries = corpus()
    contexts = {variant: gate_context(variant) for variant in ("one", "many")}
    allowed = sum(check(q.sql, contexts[q.rows_per_unit]).allowed for q in queries)
    gate = per_query_medians(queries, lambda q: check(q.sql, contexts[q.rows_per_unit]), args.repeat)
    parse = per_query_medians(queries, parse_only, args.repeat)

    print(f"corpus: {len(queries)} queries ({allowed} allowed), {args.repeat} runs each")
    print(f"{'':24}{'median':>10}{'p99':>10}")
    for label, times in (("gate check", gate), ("sqlglot parse alone", parse)):
        print(f"{label:24}{statistics.median(times) * 1e3:>8.3f}ms{p99(times) * 1e3:>8.3f}ms")
    ratio = statistics.median(g / p for g, p in zip(gate, parse, strict=True))
    print(
        f"{'gate / parse':24}{statistics.median(gate) / statistics.median(parse):>9.2f}x"
        f"{p99(gate) / p99(parse):>9.2f}x   (per-query ratio, median: {ratio:.2f}x)"
    )
    verdict = "met" if statistics.median(gate) < 0.002 else "MISSED"
    print(f"target: gate median < 2 ms per query: {verdict}")


if __name__ == "__main__":
    main()
