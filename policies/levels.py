"""Column levels: the column control list, and the rule that a grant may only narrow a level."""

from __future__ import annotations

from enum import StrEnum


class ColumnLevel(StrEnum):
    """Where a column's values may appear. Ordered from most to least restrictive."""

    hidden = "hidden"
    join_key = "join_key"
    aggregate = "aggregate"
    compare = "compare"
    group = "group"
    public = "public"


class Classification(StrEnum):
    """数据分类分级: 一般 / 重要 / 核心."""

    general = "general"
    important = "important"
    core = "core"


# How much a level lets out, from nothing (hidden) to everything (public). A grant may move a column
# only towards `hidden`. `aggregate`, `compare` and `group` are not a chain in what they allow, so a
# narrowing between two of them must be an explicit step down this order; `join_key` can only become
# `hidden`.
_OPENNESS: dict[ColumnLevel, int] = {
    ColumnLevel.hidden: 0,
    ColumnLevel.join_key: 1,
    ColumnLevel.aggregate: 2,
    ColumnLevel.compare: 3,
    ColumnLevel.group: 4,
    ColumnLevel.public: 5,
}


def narrows(registered: ColumnLevel, granted: ColumnLevel) -> bool:
    """True when `granted` lets out no more than `registered`.

    >>> narrows(ColumnLevel.group, ColumnLevel.aggregate)
    True
    >>> narrows(ColumnLevel.aggregate, ColumnLevel.public)
    False
    """
    if granted == registered or granted == ColumnLevel.hidden:
        return True
    if registered == ColumnLevel.join_key:
        return False
    return _OPENNESS[granted] <= _OPENNESS[registered] and granted != ColumnLevel.join_key
