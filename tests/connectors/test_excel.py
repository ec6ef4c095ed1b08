"""Excel sheets as government spreadsheets have them, and CSV/TSV detection (encoding, delimiter, header)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pyarrow as pa
import pytest

import connectors
from connectors import ConnectorError, FileSpec, open_file


def _government_book(path: Path) -> Path:
    """A title row, a two-row header with merged cells, a second sheet."""
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "人口"
    ws.append(["2024年户籍人口登记表"])
    ws.merge_cells("A1:E1")
    ws.append(["基本信息", None, None, "收入", "登记日期"])
    ws.merge_cells("A2:C2")
    ws.merge_cells("D2:D3")
    ws.merge_cells("E2:E3")
    ws.append(["姓名", "身份证号", "电话"])
    ws.append(["张三", "11010519491231002X", 13800138000, 5000, dt.datetime(2024, 1, 2)])
    ws.append(["李四", "110105194912310037", 13900139000, 6200.5, dt.datetime(2024, 2, 3)])
    ws.append(["王五", None, None, None, None])
    other = book.create_sheet("企业")
    other.append(["统一社会信用代码", "名称", "注册资本"])
    other.append(["91110000100000000X", "甲公司", 100])
    book.save(path)
    return path


def test_two_header_rows_with_merged_cells(tmp_path: Path) -> None:
    table = open_file(FileSpec(_government_book(tmp_path / "户籍.xlsx"))).read_all()
    assert table.column_names == ["基本信息_姓名", "基本信息_身份证号", "基本信息_电话", "收入", "登记日期"]
    types = [f.type for f in table.schema]
    # phones typed as numbers in Excel stay text; whole and fractional amounts become float64
    assert types == [pa.string(), pa.string(), pa.string(), pa.float64(), pa.date32()]
    rows = table.to_pylist()
    assert rows[0]["基本信息_电话"] == "13800138000" and rows[1]["收入"] == 6200.5
    assert rows[0]["登记日期"] == dt.date(2024, 1, 2)
    assert rows[2] == {
        "基本信息_姓名": "王五",
        "基本信息_身份证号": None,
        "基本信息_电话": None,
        "收入": None,
        "登记日期": None,
    }


def test_sheet_by_name_or_index_and_explicit_header_rows(tmp_path: Path) -> None:
    path = _government_book(tmp_path / "book.xlsx")
    by_name = open_file(FileSpec(path, sheet="企业")).read_all()
    by_index = connectors.open({"kind": "excel", "path": str(path), "sheet": 1}).read_all()
    assert by_name.equals(by_index)
    assert by_name.column_names == ["统一社会信用代码", "名称", "注册资本"]
    assert by_name.column("注册资本").type == pa.int64()
    with pytest.raises(ConnectorError) as e:  # one header row leaves the merged cells' columns unnamed
        open_file(FileSpec(path, header_rows=1))
    assert (e.value.code, e.value.problem, e.value.column) == ("malformed_file", "empty column name", 2)
    with pytest.raises(ConnectorError) as e:
        open_file(FileSpec(path, sheet="没有"))
    assert e.value.code == "malformed_file"


def test_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "fake.xlsx"
    path.write_bytes(b"not a zip")
    with pytest.raises(ConnectorError) as e:
        open_file(FileSpec(path))
    assert e.value.code == "malformed_file" and e.value.__context__ is None


def test_gb18030_tsv(tmp_path: Path) -> None:
    path = tmp_path / "企业.tsv"
    text = "名称\t地址\t电话\n甲公司\t北京市海淀区中关村大街1号\t01062751234\n乙公司\t上海市浦东新区\t\n"
    path.write_bytes(text.encode("gb18030"))
    table = open_file(FileSpec(path)).read_all()
    assert table.column_names == ["名称", "地址", "电话"]
    assert table.to_pylist()[0] == {
        "名称": "甲公司",
        "地址": "北京市海淀区中关村大街1号",
        "电话": "01062751234",
    }
    assert table.to_pylist()[1]["电话"] is None


@pytest.mark.parametrize("delimiter", [",", "\t", ";", "|"])
def test_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    path = tmp_path / "data.csv"
    lines = ["姓名,年龄,城市", "张三,30,北京", "李四,41,上海", "王五,25,广州"]
    path.write_text("\n".join(line.replace(",", delimiter) for line in lines) + "\n", encoding="utf-8-sig")
    table = open_file(FileSpec(path)).read_all()
    assert table.column_names == ["姓名", "年龄", "城市"]
    assert table.column("年龄").to_pylist() == [30, 41, 25]


def test_missing_header_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "noheader.csv"
    path.write_text("1,2024-01-02,3.5\n2,2024-02-03,4.5\n", encoding="utf-8")
    table = open_file(FileSpec(path)).read_all()
    assert table.column_names == ["column_1", "column_2", "column_3"]
    assert table.num_rows == 2 and table.column("column_1").to_pylist() == [1, 2]
    with_header = open_file(FileSpec(path, header=True)).read_all()
    assert with_header.num_rows == 1


def test_a_text_header_over_numbers_is_a_header(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("id;amount\n1;2.5\n2;3.5\n", encoding="utf-8")
    table = open_file(FileSpec(path)).read_all()
    assert table.column_names == ["id", "amount"] and table.num_rows == 2
