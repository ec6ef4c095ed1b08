"""The differencing guard on the classic pairs, on bitmaps of unit ordinals."""

from __future__ import annotations

import doctest

import numpy as np
import pyarrow as pa
from pyroaring import BitMap

import policies.privacy.differencing
from policies.gate.plan import OutputColumn, OutputKind
from policies.privacy import sdc
from policies.privacy.differencing import guard, unit_sets


def test_doctests_pass() -> None:
    assert doctest.testmod(policies.privacy.differencing).failed == 0


def test_a_total_and_the_total_minus_one_person() -> None:
    everyone = BitMap(range(1000))
    minus_one = BitMap(range(1000)) - BitMap([417])
    assert guard([minus_one], {"ds": [everyone]}, ["ds"], k=10).tolist() == [True]


def test_a_group_and_the_group_with_one_extra_filter() -> None:
    group = BitMap(range(100, 160))  # a district's 60 residents
    filtered = BitMap(range(100, 157))  # the same district, minus 3 matched by an extra filter
    assert guard([filtered], {"ds": [group]}, ["ds"], k=10).tolist() == [True]
    assert guard([BitMap(range(100, 140))], {"ds": [group]}, ["ds"], k=10).tolist() == [False]  # 20 apart


def test_a_swap_of_one_unit_is_a_difference_of_two() -> None:
    a, b = BitMap(range(50)), BitMap([*range(1, 50), 999])
    assert guard([b], {"ds": [a]}, ["ds"], k=3).tolist() == [True]
    assert guard([b], {"ds": [a]}, ["ds"], k=2).tolist() == [False]


def test_the_same_set_again_and_other_datasets_pass() -> None:
    a = BitMap(range(50))
    assert guard([BitMap(a)], {"ds": [a]}, ["ds"], k=10).tolist() == [False]
    assert guard([BitMap(range(49))], {"other": [a]}, ["ds"], k=10).tolist() == [False]


def test_unit_sets_come_from_list_columns_with_nulls() -> None:
    column = pa.chunked_array([pa.array([[5, 2], None], pa.list_(pa.int64())), pa.array([[7]])])
    assert [list(b) for b in unit_sets(column)] == [[2, 5], [], [7]]


def test_guarded_rows_are_withheld_with_their_own_rule() -> None:
    outputs = (OutputColumn("n", OutputKind.count),)
    t = pa.table({"n": [999], "__units": [999]})
    released, report = sdc.apply(t, outputs, "__units", 10, differencing=np.array([True]))
    assert released.to_pylist() == [{"n": None, "n__flag": sdc.DIFFERENCING, "suppressed": True}]
    assert [(c.column, c.rule) for c in report.suppressed] == [("n", sdc.DIFFERENCING)]
