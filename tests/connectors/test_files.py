"""Files into Arrow: formats, encodings, whole-file typing, and errors that carry no cell value."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import pickle
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors import ConnectorError, FileSpec, detect_format, open_file

SECRET = "SECRET-ALICE-42"


def _write(directory: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    path = directory / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def _read(path: Path, **spec: str) -> pa.Table:
    return open_file(FileSpec(path, **spec)).read_all()


def _error(path: Path, **spec: str) -> ConnectorError:
    with pytest.raises(ConnectorError) as info:
        open_file(FileSpec(path, **spec)).read_all()
    return info.value


def _every_text(error: BaseException) -> str:
    """All text reachable from an exception: its str, repr, args, and whatever it chains to."""
    parts: list[str] = []
    current: BaseException | None = error
    while current is not None:
        parts += [str(current), repr(current), repr(current.args)]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


def _assert_no_values(error: ConnectorError, *values: str) -> None:
    assert error.__cause__ is None
    assert error.__context__ is None
    text = _every_text(error)
    for value in values:
        assert value not in text


# --- formats and encodings ---------------------------------------------------------------------


def test_utf8_csv_is_read_with_a_type_per_column(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "people.csv",
        "id,name,income,born,seen,active\n"
        "1,Alice,1200.5,1990-01-02,2024-05-01 10:00:00,true\n"
        "2,Bob,900,1985-12-31,2024-05-01T11:30:00,False\n",
    )
    table = _read(path)
    assert table.schema == pa.schema(
        {
            "id": pa.int64(),
            "name": pa.string(),
            "income": pa.float64(),
            "born": pa.date32(),
            "seen": pa.timestamp("us"),
            "active": pa.bool_(),
        }
    )
    assert table.to_pylist()[1] == {
        "id": 2,
        "name": "Bob",
        "income": 900.0,
        "born": dt.date(1985, 12, 31),
        "seen": dt.datetime(2024, 5, 1, 11, 30),
        "active": False,
    }


def test_utf8_bom_is_not_part_of_the_first_column_name(tmp_path: Path) -> None:
    path = _write(tmp_path, "bom.csv", "\ufeff姓名,收入\n张三,100\n")
    table = _read(path)
    assert table.column_names == ["姓名", "收入"]
    assert table.to_pylist() == [{"姓名": "张三", "收入": 100}]


CHINESE = "姓名,身份证号,区,收入\n张三,110101199001011234,海淀区,8000\n李四,11010519851231002X,朝阳区,12000\n"


def test_gb18030_csv_with_chinese_headers_is_detected(tmp_path: Path) -> None:
    path = _write(tmp_path, "户籍.csv", CHINESE, encoding="gb18030")
    table = _read(path)
    assert table.column_names == ["姓名", "身份证号", "区", "收入"]
    assert table.schema.field("身份证号").type == pa.string()
    assert table.schema.field("收入").type == pa.int64()
    assert table.column("区").to_pylist() == ["海淀区", "朝阳区"]


@pytest.mark.parametrize("encoding", ["gbk", "GBK", "gb18030", "cp936"])
def test_gbk_can_be_named_explicitly(tmp_path: Path, encoding: str) -> None:
    path = _write(tmp_path, "户籍.csv", CHINESE, encoding="gbk")
    table = _read(path, encoding=encoding)
    assert table.column("姓名").to_pylist() == ["张三", "李四"]


def test_utf8_can_be_named_explicitly(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", "\ufeff区\n海淀区\n")
    assert _read(path, encoding="utf-8").to_pylist() == [{"区": "海淀区"}]


def test_tsv_splits_on_tabs_only(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.tsv", "区\t备注\n海淀区\tx, y\n")
    assert _read(path).to_pylist() == [{"区": "海淀区", "备注": "x, y"}]


def test_jsonl_unions_keys_and_keeps_nested_values_as_json_text(tmp_path: Path) -> None:
    lines = [
        {"id": 1, "tags": ["a", "b"], "info": {"区": "海淀"}},
        {"id": 2, "score": 1.5},
        {"id": 3, "ok": True, "tags": None},
    ]
    text = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n\n"
    path = _write(tmp_path, "a.jsonl", text)
    table = _read(path)
    assert table.schema == pa.schema(
        {"id": pa.int64(), "tags": pa.string(), "info": pa.string(), "score": pa.float64(), "ok": pa.bool_()}
    )
    assert table.to_pylist() == [
        {"id": 1, "tags": '["a","b"]', "info": '{"区":"海淀"}', "score": None, "ok": None},
        {"id": 2, "tags": None, "info": None, "score": 1.5, "ok": None},
        {"id": 3, "tags": None, "info": None, "score": None, "ok": True},
    ]


def test_jsonl_keys_first_seen_after_a_full_batch_are_null_before(tmp_path: Path) -> None:
    lines = [json.dumps({"a": i}) for i in range(70_000)] + [json.dumps({"a": 0, "late": "x"})]
    path = _write(tmp_path, "a.ndjson", "\n".join(lines))
    table = _read(path)
    assert table.num_rows == 70_001
    assert table.column("late").null_count == 70_000


def test_parquet_streams_in_batches_and_keeps_its_schema(tmp_path: Path) -> None:
    source = pa.table(
        {
            "code": pa.array([f"{i:06d}" for i in range(150_000)]),
            "amount": pa.array(range(150_000), pa.int32()),
            "when": pa.array([0] * 150_000, pa.timestamp("ms", tz="Asia/Shanghai")),
        }
    )
    path = tmp_path / "a.parquet"
    pq.write_table(source, path, row_group_size=50_000)
    reader = open_file(FileSpec(path))
    assert reader.schema.equals(source.schema)
    sizes = [batch.num_rows for batch in reader]
    assert len(sizes) > 1
    assert max(sizes) <= 65_536
    assert sum(sizes) == 150_000


def test_text_sources_come_in_batches_of_at_most_64k_rows(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", "n\n" + "".join(f"{i}\n" for i in range(150_000)))
    sizes = [batch.num_rows for batch in open_file(FileSpec(path))]
    assert sizes == [65_536, 65_536, 150_000 - 2 * 65_536]


# --- types -------------------------------------------------------------------------------------


def test_identifier_looking_columns_stay_strings(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "ids.csv",
        "resident_id,phone,district_code,card,count\n"
        "110101199001011234,13800138000,0101,6222020200112233445,7\n"
        "110105198512310023,13900139000,1102,6222020200112233446,8\n",
    )
    table = _read(path)
    assert [field.type for field in table.schema] == [pa.string()] * 4 + [pa.int64()]
    assert table.column("district_code").to_pylist() == ["0101", "1102"]


def test_types_are_inferred_from_every_row_not_the_first_block(tmp_path: Path) -> None:
    rows = "".join(f"{i},{i},{i}\n" for i in range(1, 200_000))
    path = _write(tmp_path, "late.csv", "a,b,c\n" + rows + "0.5,abc,007\n")
    table = _read(path)
    assert [field.type for field in table.schema] == [pa.float64(), pa.string(), pa.string()]
    assert table.column("c").to_pylist()[-1] == "007"


def test_empty_cells_are_null_and_do_not_decide_the_type(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", 'n,s,none\n1,"",\n,x,\n')
    table = _read(path)
    assert table.schema == pa.schema({"n": pa.int64(), "s": pa.string(), "none": pa.string()})
    assert table.to_pylist() == [{"n": 1, "s": None, "none": None}, {"n": None, "s": "x", "none": None}]


def test_timestamps_with_offsets_become_utc(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", "t\n2024-01-01T08:00:00+08:00\n2024-01-01T00:00:00Z\n")
    column = _read(path).column("t")
    assert column.type == pa.timestamp("us", tz="UTC")
    assert column.to_pylist()[0] == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def test_header_only_file_gives_zero_rows_of_strings(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", "姓名,收入\n")
    table = _read(path)
    assert table.num_rows == 0
    assert table.schema == pa.schema({"姓名": pa.string(), "收入": pa.string()})


def test_column_names_lose_surrounding_whitespace_only(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", " 姓 名 ,\t收入(元) \n张三,1\n")
    assert _read(path).column_names == ["姓 名", "收入(元)"]


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_row", "problem", "column"),
    [
        (f"2,{SECRET},3,4", "expected 3 fields, found 4", 4),
        (f"{SECRET},2", "expected 3 fields, found 2", 3),
    ],
)
def test_ragged_row_gives_line_and_column_but_no_value(
    tmp_path: Path, bad_row: str, problem: str, column: int
) -> None:
    path = _write(tmp_path, "a.csv", f"a,b,c\n1,x,2\n{bad_row}\n5,y,6\n")
    error = _error(path)
    assert (error.code, error.problem, error.line, error.column) == ("malformed_file", problem, 3, column)
    assert error.format == "csv"
    assert str(error) == f"malformed_file: {problem} (line 3, column {column})"
    _assert_no_values(error, SECRET, "x,2", "5,y")


def test_ragged_row_after_the_first_block_gives_its_line(tmp_path: Path) -> None:
    rows = "".join(f"{i},{i}\n" for i in range(300_000))
    path = _write(tmp_path, "a.csv", "a,b\n" + rows + f"1,{SECRET},3\n")
    error = _error(path)
    assert (error.line, error.column) == (300_002, 3)
    _assert_no_values(error, SECRET)


def test_line_numbers_count_newlines_inside_quoted_fields_and_blank_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", 'a,b\n"multi\nline\nnote",1\n\n2,2\n3,3,' + SECRET + "\n")
    error = _error(path)
    assert (error.line, error.column) == (7, 3)
    _assert_no_values(error, SECRET)


def test_quote_left_open_does_not_swallow_the_rest_of_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", f'a,b\n1,x\n2,"{SECRET}\n3,y\n4,z\n')
    error = _error(path)
    assert (error.problem, error.line, error.column) == ("unterminated quoted field", 3, 2)
    _assert_no_values(error, SECRET)


def test_quoted_last_cell_with_a_line_break_is_fine(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", 'a,b\n1,"x\ny"\n\n')
    assert _read(path).to_pylist() == [{"a": 1, "b": "x\ny"}]


def test_ragged_row_in_gb18030_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", f"姓名,区\n张三,海淀\n李四,{SECRET},朝阳\n", encoding="gb18030")
    error = _error(path)
    assert (error.line, error.column) == (3, 3)
    _assert_no_values(error, SECRET, "李四")


def test_bad_json_line_gives_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.jsonl", f'{{"a": 1}}\n\n{{"a": {SECRET}}}\n{{"a": 2}}\n')
    error = _error(path)
    assert (error.code, error.problem, error.line, error.column) == ("malformed_file", "invalid JSON", 3, 7)
    assert error.format == "jsonl"
    _assert_no_values(error, SECRET)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (f'{{"a": 1}}\n["{SECRET}"]\n', "expected a JSON object"),
        (f'{{"a": 1}}\n{{"a": "{SECRET}", "a": 2}}\n', "duplicate key"),
        (f'{{"a": 1}}\n{{"a": "{SECRET}\\ud800"}}\n', "invalid Unicode escape"),
        ('{"a": 1}\n{"a": ' + "9" * 5000 + "}\n", "invalid JSON"),
    ],
)
def test_json_line_that_is_no_usable_object(tmp_path: Path, content: str, problem: str) -> None:
    error = _error(_write(tmp_path, "a.jsonl", content))
    assert (error.problem, error.line) == (problem, 2)
    _assert_no_values(error, SECRET)


def test_undecodable_bytes_are_an_unknown_encoding_with_their_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", b"a,b\n1,2\n3,\xff\xfe\n")
    error = _error(path)
    assert (error.code, error.line) == ("unknown_encoding", 3)
    assert error.problem.startswith("invalid byte sequence for ")
    _assert_no_values(error)


def test_bytes_invalid_in_the_named_encoding(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", CHINESE, encoding="gbk")
    error = _error(path, encoding="utf-8")
    assert (error.code, error.line) == ("unknown_encoding", 1)
    assert error.problem == "invalid byte sequence for UTF-8"


def test_encoding_we_do_not_read(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.csv", "a\n1\n")
    error = _error(path, encoding="big5")
    assert (error.code, error.problem) == ("unknown_encoding", "unsupported encoding")


@pytest.mark.parametrize(
    ("name", "content"), [("a.csv", ""), ("a.csv", "\ufeff\n \n"), ("a.jsonl", "\n"), ("a.parquet", "")]
)
def test_empty_file(tmp_path: Path, name: str, content: str) -> None:
    error = _error(_write(tmp_path, name, content))
    assert (error.code, error.problem, error.line) == ("malformed_file", "empty file", 1)


@pytest.mark.parametrize(
    ("header", "problem", "column"),
    [
        ("a,b,a", "duplicate column name", 3),
        ("区, 区", "duplicate column name", 2),
        ("Name,name", "duplicate column name", 2),
        ("a,,c", "empty column name", 2),
    ],
)
def test_unusable_header_names(tmp_path: Path, header: str, problem: str, column: int) -> None:
    # The data row is ragged too: the header, on line 1, is reported first.
    error = _error(_write(tmp_path, "a.csv", f"{header}\n1,2,3,4\n"))
    assert (error.code, error.problem, error.line, error.column) == ("malformed_file", problem, 1, column)


def test_not_a_parquet_file(tmp_path: Path) -> None:
    error = _error(_write(tmp_path, "a.parquet", f"{SECRET},1\n"))
    assert (error.code, error.format) == ("malformed_file", "parquet")
    _assert_no_values(error, SECRET)


def test_corrupt_parquet_data_fails_while_streaming(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"n": list(range(200_000))}), path, row_group_size=50_000)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 2000] = b"Z" * 2000
    path.write_bytes(bytes(data))
    error = _error(path)
    assert (error.code, error.format) == ("malformed_file", "parquet")
    _assert_no_values(error)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.csv", "csv"),
        ("A.CSV", "csv"),
        ("a.tsv", "tsv"),
        ("a.jsonl", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("a.json", "jsonl"),
        ("a.parquet", "parquet"),
    ],
)
def test_format_from_suffix(name: str, expected: str) -> None:
    assert detect_format(Path(name)) == expected


def test_txt_is_tsv_when_its_first_line_has_a_tab(tmp_path: Path) -> None:
    assert detect_format(_write(tmp_path, "a.txt", "a\tb\n1\t2\n")) == "tsv"
    assert detect_format(_write(tmp_path, "b.txt", "a,b\n1,2\n")) == "csv"


@pytest.mark.parametrize("spec", [{"path": "a.xls"}, {"path": "a.csv", "format": "xml"}])
def test_unsupported_format(tmp_path: Path, spec: dict[str, str]) -> None:
    path = _write(tmp_path, spec["path"], "a\n1\n")
    error = _error(path, **{k: v for k, v in spec.items() if k != "path"})
    assert error.code == "unsupported_format"


def test_explicit_format_overrides_the_suffix(tmp_path: Path) -> None:
    path = _write(tmp_path, "export.dat", "a\tb\n1\t2\n")
    assert _read(path, format="tsv").to_pylist() == [{"a": 1, "b": 2}]


def test_connector_error_survives_pickling() -> None:
    error = ConnectorError("malformed_file", "invalid JSON", line=3, column=7, format="jsonl")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.code, copy.problem, copy.line, copy.column, copy.format) == (
        "malformed_file",
        "invalid JSON",
        3,
        7,
        "jsonl",
    )
    assert str(copy) == "malformed_file: invalid JSON (line 3, column 7)"


# --- properties --------------------------------------------------------------------------------

_cells = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12)
_tables = st.integers(min_value=1, max_value=4).flatmap(
    lambda width: st.lists(st.lists(_cells, min_size=width, max_size=width), max_size=30)
)


def _csv_text(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    # Excel's CRLF; with "\n" alone, Python 3.11 would not quote a lone "\r" inside a cell.
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


@settings(max_examples=60, deadline=None)
@given(rows=_tables, encoding=st.sampled_from(["utf-8", "gb18030"]))
def test_any_table_round_trips_through_csv(
    tmp_path_factory: pytest.TempPathFactory, rows: list[list[str]], encoding: str
) -> None:
    width = len(rows[0]) if rows else 1
    header = [f"列{i}" for i in range(width)]
    # A letter in front keeps every cell a non-empty string, so values must come back exactly.
    body = [[f"v{cell}" for cell in row] for row in rows if len(row) == width]
    path = _write(tmp_path_factory.mktemp("rt"), "t.csv", _csv_text([header, *body]), encoding=encoding)
    # One column whose cells all hold ';' (or '|', a tab) reads as well split on that character: no
    # sniffer can tell, so a one-column table is read with its delimiter named.
    table = _read(path, delimiter=",") if width == 1 else _read(path)
    assert table.column_names == header
    assert [list(row.values()) for row in table.to_pylist()] == body


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.lists(_cells, min_size=2, max_size=2), max_size=20),
    blank_lines=st.lists(st.booleans(), max_size=20),
    at=st.integers(min_value=0, max_value=20),
)
def test_ragged_row_line_is_its_physical_line(
    tmp_path_factory: pytest.TempPathFactory, rows: list[list[str]], blank_lines: list[bool], at: int
) -> None:
    at = min(at, len(rows))
    text = _csv_text([["a", "b"]])
    for index, row in enumerate([[f"v{cell}" for cell in row] for row in rows]):
        if index == at:
            break
        text += _csv_text([row]) + ("\n" if index < len(blank_lines) and blank_lines[index] else "")
    expected_line = text.count("\n") + text.count("\r") - text.count("\r\n") + 1
    text += _csv_text([["x", SECRET, "z"]])
    error = _error(_write(tmp_path_factory.mktemp("ragged"), "t.csv", text))
    assert (error.line, error.column) == (expected_line, 3)
    _assert_no_values(error, SECRET)


def test_a_csv_of_many_blocks_is_typed_over_every_value(tmp_path: Path) -> None:
    """The file streams in 1 MiB blocks; a value in the last block still decides each column's type."""
    rows = "".join(f"{i},{i},true\n" for i in range(300_000))  # ~5 MiB of ints and booleans
    path = _write(tmp_path, "many.csv", "n,x,flag\n" + rows + "300000,0.5,1\n")
    table = _read(path)
    assert table.schema.types == [pa.int64(), pa.float64(), pa.string()]
    assert table.num_rows == 300_001 and table.column("x")[300_000].as_py() == 0.5
    assert table.column("flag")[0].as_py() == "true"  # "1" among booleans: text, as a whole read gives


def test_a_record_longer_than_a_block_is_read(tmp_path: Path) -> None:
    long = "长" * 600_000  # 1.8 MB in UTF-8, more than one block
    path = _write(
        tmp_path, "long.csv", "a,b\n" + "".join(f"{i},x\n" for i in range(50_000)) + f'1,"{long}"\n'
    )
    table = _read(path)
    assert table.num_rows == 50_001 and table.column("b")[50_000].as_py() == long
