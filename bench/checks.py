"""Benchmark: the three pure checks a data product call runs on its result, per call, against a
baseline revision of the same modules.

The checks are `differencing.guard_result` (the `__unitset:residents` list column to bitmaps, then
the guard against ~50 earlier sets), `sdc.apply` and `scan.scan` (a real analyzer over a blank spaCy
pipeline, with a warm `Memo`, as in a runtime that has served the product before). The result looks
like the product call's as DuckDB gives it: `district`, `n`, `avg_income`, `__units`, a decimal
`__dom_total_2`, integer `__dom_top_2` and ~2,500 unit ordinals per row in hash order (as
LIST(DISTINCT) returns them; `--sorted-units` sorts them), at 1 and 1,000 rows. The baseline is
each module as it is at `--baseline` (read with `git show`, loaded under another name), timed in
alternating rounds; the ratio is new/old.

    .venv/bin/python bench/checks.py
    .venv/bin/python bench/checks.py --baseline main --repeat 2000
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pyarrow as pa
from pyroaring import BitMap

from policies.bundles import SdcRules
from policies.gate.plan import OutputColumn, OutputKind
from policies.privacy import differencing, scan, sdc
from sandbox.pii import build_analyzer

ROOT = Path(__file__).resolve().parent.parent
UNITSET = differencing.UNIT_SET_PREFIX + "residents"
OUTPUTS = (
    OutputColumn("district", OutputKind.group, "district"),
    OutputColumn("n", OutputKind.count),
    OutputColumn(
        "avg_income", OutputKind.avg, "income", dominance_total="__dom_total_2", dominance_top="__dom_top_2"
    ),
)
DISTRICTS = ["东城", "西城", "朝阳", "海淀", "丰台", "石景山", "门头沟", "房山", "通州", "顺义"]


def result_table(rows: int, members: int = 2500, seed: int = 0, sorted_units: bool = False) -> pa.Table:
    """A product call's raw result: keys, aggregates and companions, with no NULL (the usual case)."""
    rng = np.random.default_rng(seed)
    units = rng.integers(members // 2, members * 2, rows)
    sets = [rng.choice(200_000, int(u), replace=False).astype(np.int64) for u in units]  # hash order
    if sorted_units:
        sets = [np.sort(s) for s in sets]
    top = rng.integers(1_000, 50_000, (rows, 2))
    return pa.table(
        {
            "district": [DISTRICTS[i % len(DISTRICTS)] + ("" if i < 10 else f"{i}") for i in range(rows)],
            "n": pa.array(units * 2, pa.int64()),
            "avg_income": rng.uniform(3_000, 30_000, rows),
            "__units": pa.array(units, pa.int64()),
            "__dom_total_2": pa.array([Decimal(int(t)) * 40 for t in top.sum(axis=1)], pa.decimal128(38, 2)),
            "__dom_top_2": pa.array(np.sort(top, axis=1)[:, ::-1].tolist(), pa.list_(pa.int64())),
            UNITSET: pa.array(sets, pa.list_(pa.int64())),
        }
    )


def earlier_sets(count: int = 50, seed: int = 1) -> dict[str, list[BitMap]]:
    rng = np.random.default_rng(seed)
    return {"residents": [BitMap(rng.choice(200_000, 2500, replace=False).tolist()) for _ in range(count)]}


def baseline(rev: str, name: str) -> ModuleType | None:
    """`policies/privacy/<name>.py` as it is at `rev`, imported as `baseline_<name>` (None: no git)."""
    try:
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{rev}:policies/privacy/{name}.py"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    spec = importlib.util.spec_from_loader(f"baseline_{name}", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    exec(compile(source, f"{rev}:policies/privacy/{name}.py", "exec"), module.__dict__)
    return module


def per_call_us(fns: list[Callable[[], Any]], repeat: int, rounds: int = 7) -> list[float]:
    """Per call, in microseconds, of each of `fns`: timed in alternating rounds (so a neighbour's load
    hits all alike), each round's mean over `repeat // rounds` calls, the best round kept."""
    for fn in fns:
        for _ in range(min(20, repeat)):
            fn()
    best = [float("inf")] * len(fns)
    calls = max(repeat // rounds, 1)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            best[i] = min(best[i], (time.perf_counter() - start) / calls * 1e6)
    return best


def cases(
    m: dict[str, ModuleType],
    raw: pa.Table,
    released: pa.Table,
    earlier: dict[str, list[BitMap]],
    analyzer: Any,
) -> dict[str, Callable[[], Any]]:
    """The three calls as the product call makes them, with the implementation's own warm `Memo`."""
    memo = m["scan"].Memo()
    guarded = np.zeros(raw.num_rows, dtype=bool)
    public = {"district": DISTRICTS}
    columns = [("residents", UNITSET)]
    return {
        "guard_result": lambda: m["differencing"].guard_result(raw, columns, earlier, 10),
        "sdc.apply": lambda: m["sdc"].apply(raw, OUTPUTS, "__units", 10, public, SdcRules(), guarded),
        "scan": lambda: m["scan"].scan(released, analyzer, numeric_columns=["district"], memo=memo),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="main", help="git revision to compare with (default: main)")
    parser.add_argument("--repeat", type=int, default=500, help="calls per measurement at 1 row")
    parser.add_argument("--sorted-units", action="store_true", help="unit ordinals sorted in each row")
    args = parser.parse_args()
    old = {name: baseline(args.baseline, name) for name in ("differencing", "sdc", "scan")}
    new = {"differencing": differencing, "sdc": sdc, "scan": scan}
    with tempfile.TemporaryDirectory() as tmp:
        analyzer = build_analyzer(Path(tmp) / "nlp")
    earlier = earlier_sets()
    print(f"{'check':<14}{'rows':>6}{'new µs':>12}{'old µs':>12}{'new/old':>9}")
    for rows in (1, 1000):
        raw = result_table(rows, sorted_units=args.sorted_units)
        repeat = args.repeat if rows == 1 else max(args.repeat // 50, 5)
        released = sdc.apply(raw, OUTPUTS, "__units", 10, {"district": DISTRICTS}, SdcRules())[0]
        fresh = cases(new, raw, released, earlier, analyzer)
        stale = cases(old, raw, released, earlier, analyzer) if all(old.values()) else {}  # type: ignore[arg-type]
        for check, fn in fresh.items():
            if check in stale:
                t_new, t_old = per_call_us([fn, stale[check]], repeat)
            else:
                t_new, t_old = per_call_us([fn], repeat)[0], float("nan")
            print(f"{check:<14}{rows:>6}{t_new:>12.1f}{t_old:>12.1f}{t_new / t_old:>9.2f}")


if __name__ == "__main__":
    main()
