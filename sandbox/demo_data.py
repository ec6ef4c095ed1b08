"""Synthetic residents of Shenzhen for the demo and for tests: realistic shapes, no real people.

Everything is vectorized with numpy and Arrow so ten million rows take seconds, and a seed fixes
every value. Identifiers are valid by construction (check characters from
`policies.classify.recognizers`), so the classifier sees what it would see in real data.

One small district gets exactly `small_count` rows, a cell a demo job must suppress:

>>> t = residents(1_000, seed=7)
>>> t.num_rows, sum(1 for d in t.column("district").to_pylist() if d == "大鹏新区")
(1000, 6)
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from policies.classify.recognizers import RESIDENT_ID_CHECK_CHARS, RESIDENT_ID_WEIGHTS

# Districts and rough shares of the resident population (2020 census, rounded).
DISTRICTS: tuple[tuple[str, float], ...] = (
    ("宝安区", 0.254),
    ("龙岗区", 0.225),
    ("龙华区", 0.144),
    ("南山区", 0.102),
    ("福田区", 0.088),
    ("罗湖区", 0.065),
    ("光明区", 0.062),
    ("坪山区", 0.033),
    ("盐田区", 0.013),
)
# Administrative division codes of Shenzhen's districts, the first six digits of an ID issued there.
AREA_CODES: tuple[str, ...] = tuple(
    ["440303", "440304", "440305", "440306", "440307", "440308", "440309", "440310", "440311", "440312"]
)
SURNAMES: tuple[str, ...] = (
    *"王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤",
    *("欧阳", "司马", "上官", "诸葛"),
)
GIVEN_CHARS: tuple[str, ...] = tuple(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国文斌宇浩凯俊博志永林海晨欣怡婷雪琳"
    "佳子涵梓轩思雨嘉慧晓东鑫宏波丹倩颖峰健亮成乐诗琪语瑶宁安然铭昊睿泽"
)
_MOBILE_PREFIX_RANGES = ((130, 140), (145, 146), (147, 148), (150, 154), (155, 160), (166, 167), (172, 174))
_MOBILE_PREFIX_RANGES += ((175, 179), (180, 190), (191, 192), (198, 200))
MOBILE_PREFIXES: tuple[str, ...] = tuple(str(p) for lo, hi in _MOBILE_PREFIX_RANGES for p in range(lo, hi))
REFERENCE_DATE = np.datetime64("2025-01-01")  # ages are as of this day, so output never drifts
_SEQ_PAIRS = 500  # sequence numbers 000-999: odd for men, even for women, 500 each


def _ascii_column(digits: list[np.ndarray], n: int) -> pa.Array:
    """A string array from per-position byte columns of equal width, without Python strings."""
    width = len(digits)
    data = np.empty((n, width), dtype=np.uint8)
    for k, col in enumerate(digits):
        data[:, k] = col
    if (n + 1) * width < 2**31:
        offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def _digits(values: np.ndarray, width: int) -> list[np.ndarray]:
    """ASCII digit columns of zero-padded non-negative integers, most significant first."""
    out = []
    for k in range(width - 1, -1, -1):
        out.append((values // 10**k % 10 + ord("0")).astype(np.uint8))
    return out


def _birth_dates(ages: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A birth day for each age, uniform over the year of days that give that age on REFERENCE_DATE."""
    latest = (REFERENCE_DATE.astype("datetime64[Y]") - ages.astype("timedelta64[Y]")).astype("datetime64[D]")
    latest = latest + (REFERENCE_DATE - REFERENCE_DATE.astype("datetime64[Y]").astype("datetime64[D]"))
    earliest_year = (latest.astype("datetime64[Y]") - np.timedelta64(1, "Y")).astype("datetime64[D]")
    earliest = earliest_year + (latest - latest.astype("datetime64[Y]").astype("datetime64[D]")) + 1
    span = (latest - earliest).astype(np.int64) + 1
    return earliest + (rng.random(ages.size) * span).astype(np.int64)


def _sequence_numbers(area: np.ndarray, born: np.ndarray, male: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sequence numbers that make every (area, birth day, sequence) unique, and the final areas.

    Within one (area, birth day, sex) group members get consecutive pair numbers from a start
    derived from the group key. A group with more than 500 members would run out, so its overflow
    moves to the next area code and the ranking repeats; with 10 areas that holds 10,000 people per
    birth day, far beyond any population here.
    """
    area = area.copy()
    day = born.astype(np.int64) - born.astype(np.int64).min()
    days = int(day.max()) + 1
    for _ in range(len(AREA_CODES)):
        key = (area.astype(np.int64) * days + day) * 2 + male
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        starts = np.r_[True, sorted_key[1:] != sorted_key[:-1]]
        first = np.maximum.accumulate(np.where(starts, np.arange(key.size), 0))
        rank = np.empty(key.size, dtype=np.int64)
        rank[order] = np.arange(key.size) - first
        over = rank >= _SEQ_PAIRS
        if not over.any():
            pair = (key * 2654435761 % _SEQ_PAIRS + rank) % _SEQ_PAIRS
            return pair * 2 + male, area
        area[over] = (area[over] + 1) % len(AREA_CODES)
    raise ValueError("too many residents for the resident ID space of the demo areas")


def _resident_ids(area: np.ndarray, born: np.ndarray, seq: np.ndarray) -> pa.Array:
    n = area.size
    area_digits = np.frombuffer("".join(AREA_CODES).encode(), dtype=np.uint8).reshape(len(AREA_CODES), 6)
    years = born.astype("datetime64[Y]").astype(np.int64) + 1970
    months = born.astype("datetime64[M]").astype(np.int64) % 12 + 1
    days = (born - born.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    cols = [area_digits[area, k] for k in range(6)]
    cols += _digits(years * 10_000 + months * 100 + days, 8) + _digits(seq, 3)
    total = np.zeros(n, dtype=np.int64)
    for col, weight in zip(cols, RESIDENT_ID_WEIGHTS, strict=True):
        total += (col.astype(np.int64) - ord("0")) * weight
    check_table = np.frombuffer(RESIDENT_ID_CHECK_CHARS.encode(), dtype=np.uint8)
    return _ascii_column([*cols, check_table[total % 11]], n)


def _names(rng: np.random.Generator, n: int) -> pa.Array:
    surname_weights = 1.0 / np.arange(1, len(SURNAMES) + 1) ** 0.9  # a few very common surnames
    surnames = pa.array(SURNAMES).take(
        rng.choice(len(SURNAMES), n, p=surname_weights / surname_weights.sum())
    )
    chars = pa.array(GIVEN_CHARS)
    first = chars.take(rng.integers(0, len(GIVEN_CHARS), n))
    second_pool = pa.array([*GIVEN_CHARS, ""])  # "" makes a one-character given name
    second_idx = np.where(rng.random(n) < 0.75, rng.integers(0, len(GIVEN_CHARS), n), len(GIVEN_CHARS))
    return pc.binary_join_element_wise(surnames, first, second_pool.take(second_idx), "")


def _phones(rng: np.random.Generator, n: int) -> pa.Array:
    prefixes = np.frombuffer("".join(MOBILE_PREFIXES).encode(), dtype=np.uint8).reshape(-1, 3)
    p = prefixes[rng.integers(0, len(MOBILE_PREFIXES), n)]
    return _ascii_column([p[:, 0], p[:, 1], p[:, 2], *_digits(rng.integers(0, 100_000_000, n), 8)], n)


def _districts(rng: np.random.Generator, n: int, small_district: str, small_count: int) -> pa.Array:
    names = [d for d, _ in DISTRICTS if d != small_district]
    weights = np.array([w for d, w in DISTRICTS if d != small_district])
    idx = rng.choice(len(names), n - small_count, p=weights / weights.sum())
    idx = rng.permutation(np.r_[idx, np.full(small_count, len(names))])
    return pa.array([*names, small_district]).take(idx)


def residents(n: int, *, seed: int = 7, small_district: str = "大鹏新区", small_count: int = 6) -> pa.Table:
    """`n` synthetic residents, one row each, identical for the same arguments.

    Columns: resident_id (valid 18-character ID whose birth date matches `age` on 2025-01-01 and
    whose sequence parity matches `sex`), name, phone, district (exactly `small_count` rows in
    `small_district`, the rest spread over the main districts by population), age (18-90),
    income (yuan per year, log-normal, lower after 60) and sex (男/女).
    """
    if not 0 <= small_count <= n:
        raise ValueError("small_count must be between 0 and n")
    rng = np.random.default_rng(seed)
    ages = np.minimum(18 + rng.gamma(2.2, 9.0, n).astype(np.int64), 90)
    male = (rng.random(n) < 0.52).astype(np.int64)
    born = _birth_dates(ages, rng)
    seq, area = _sequence_numbers(rng.integers(0, len(AREA_CODES), n), born, male)
    median = np.where(ages >= 60, 48_000.0, 95_000.0)
    income = np.clip(median * rng.lognormal(0.0, 0.75, n), 0, 5_000_000).astype(np.int64)
    return pa.table(
        {
            "resident_id": _resident_ids(area, born, seq),
            "name": _names(rng, n),
            "phone": _phones(rng, n),
            "district": _districts(rng, n, small_district, small_count),
            "age": pa.array(ages, pa.int64()),
            "income": pa.array(income, pa.int64()),
            "sex": pa.array(["女", "男"]).take(male),
        }
    )


def write_csv(table: pa.Table, path: Path, encoding: str = "utf-8") -> None:
    """Write `table` as CSV with a header, in `encoding` (utf-8, utf-8-sig, gb18030, gbk ...).

    Arrow writes UTF-8 only; other encodings are transcoded batch by batch, so memory stays bounded.
    """
    if encoding.replace("-", "").replace("_", "").lower() == "utf8":
        pacsv.write_csv(table, path)
        return
    batches = table.to_batches(max_chunksize=65_536) or [pa.RecordBatch.from_pylist([], schema=table.schema)]
    with open(path, "w", encoding=encoding, newline="") as out:
        for i, batch in enumerate(batches):
            buf = io.BytesIO()
            pacsv.write_csv(batch, buf, pacsv.WriteOptions(include_header=i == 0))
            out.write(buf.getvalue().decode("utf-8"))
