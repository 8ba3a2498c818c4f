"""Reading purchase logs from files: the generic layout, Online Retail II as published, and clear refusals."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from patron.recommendations.engine.data import read_purchase_log

ONLINE_RETAIL = """Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country
489434,85048,15CM CHRISTMAS GLASS BALL 20 LIGHTS,12,2009-12-01 07:45:00,6.95,13085.0,United Kingdom
489434,79323p,PINK CHERRY LIGHTS,12,2009-12-01 07:45:00,6.75,13085.0,United Kingdom
489434,POST,POSTAGE,1,2009-12-01 07:45:00,18.00,13085.0,United Kingdom
489435,gift_0001_20,Dotcomgiftshop Gift Voucher £20.00,1,2009-12-01 07:46:00,17.39,13085.0,United Kingdom
C489449,22087,PAPER BUNTING WHITE LACE,-12,2009-12-01 10:33:00,2.95,16321.0,Australia
489450,22087,PAPER BUNTING WHITE LACE,12,2009-12-01 10:34:00,2.95,,Australia
489451,22087,PAPER BUNTING WHITE LACE,0,2009-12-01 10:35:00,2.95,16321.0,Australia
489452,21232,STRAWBERRY CERAMIC TRINKET BOX,24,2009-12-01 10:40:00,0.00,16321.0,Australia
489453,ADJUST,Adjustment by john,1,2009-12-01 10:41:00,100.00,16321.0,Australia
489454,21232,STRAWBERRY CERAMIC TRINKET BOX,24,2009-12-01 10:42:00,1.25,16321.0,Australia
"""


def write(tmp_path: Path, text: str, name: str = "log.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_online_retail_is_read_as_published_and_cleaned(tmp_path: Path) -> None:
    log = read_purchase_log(write(tmp_path, ONLINE_RETAIL))

    assert log.basket_ids.tolist() == ["489434", "489434", "489454"]
    assert log.user_ids.tolist() == ["13085", "13085", "16321"], "ids read from a spreadsheet lose their .0"
    assert log.item_ids.tolist() == ["85048", "79323P", "21232"], "stock codes are upper-cased"
    assert log.quantities.tolist() == [12.0, 12.0, 24.0]
    assert log.quantities.dtype == np.float32
    assert log.timestamps.dtype == np.dtype("datetime64[s]")
    assert log.timestamps[0] == np.datetime64("2009-12-01T07:45:00")
    assert log.item_names[1] == "PINK CHERRY LIGHTS"
    assert log.unit_prices.tolist() == [6.95, 6.75, 1.25]


def test_online_retail_parquet_with_typed_columns(tmp_path: Path) -> None:
    table = pa.table(
        {
            "Invoice": ["1", "C2", "3"],
            "StockCode": ["85123A", "85123A", "22423"],
            "Description": ["HEART", "HEART", None],
            "Quantity": pa.array([6, -6, 2], pa.int64()),
            "InvoiceDate": pa.array(np.array(["2010-12-01T08:26", "2010-12-02", "2010-12-03"], "datetime64[us]")),
            "Price": [2.55, 2.55, 12.75],
            "Customer ID": pa.array([17850.0, 17850.0, np.nan], pa.float64()),  # as pandas writes it
            "Country": ["United Kingdom"] * 3,
        }
    )
    path = tmp_path / "retail.parquet"
    pq.write_table(table, path)

    log = read_purchase_log(path)

    assert log.user_ids.tolist() == ["17850"]
    assert log.item_ids.tolist() == ["85123A"]
    assert log.timestamps.tolist()[0].isoformat() == "2010-12-01T08:26:00"


def test_generic_log_without_basket_groups_a_user_s_lines_by_time(tmp_path: Path) -> None:
    text = """user , item,timestamp,quantity
alice,mug,2024-01-01T10:00:00,1
alice,tea,2024-01-01T10:00:00,2.5
alice,tea,2024-01-03T09:00:00,1
bob,mug,2024-01-01T10:00:00,1
,mug,2024-01-01T10:00:00,1
bob,,2024-01-01T10:00:00,1
bob,pot,,1
bob,pot,2024-01-01T10:00:00,-1
"""

    log = read_purchase_log(write(tmp_path, text))

    assert log.user_ids.tolist() == ["alice", "alice", "alice", "bob"]
    assert log.basket_ids[0] == log.basket_ids[1] != log.basket_ids[2]
    assert log.basket_ids[0] != log.basket_ids[3], "same time, other user: another basket"
    assert np.isnan(log.unit_prices).all() and set(log.item_names) == {""}


def test_generic_log_with_baskets_names_prices_zones_and_gzip(tmp_path: Path) -> None:
    text = """USER,ITEM,TIMESTAMP,QUANTITY,BASKET,NAME,PRICE
u1,sku-1,2024-06-01T10:00:00+02:00,1,o-1,Mug,4.5
u1,sku-2,2024-06-01T08:00:00Z,2,o-1,Tea,
"""
    path = tmp_path / "log.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))

    log = read_purchase_log(path)

    assert log.timestamps.tolist()[0] == log.timestamps.tolist()[1], "zoned times are converted to UTC"
    assert log.basket_ids.tolist() == ["o-1", "o-1"]
    assert log.item_names.tolist() == ["Mug", "Tea"]
    assert log.unit_prices[0] == 4.5 and np.isnan(log.unit_prices[1])


def test_tab_separated_logs_and_ids_that_look_like_missing_values(tmp_path: Path) -> None:
    text = "user\titem\ttimestamp\tquantity\nNA\t-\t2024-01-01\t1\n\tmug\t2024-01-01\t1\n"

    log = read_purchase_log(write(tmp_path, text, "log.tsv"))

    assert (log.user_ids.tolist(), log.item_ids.tolist()) == (["NA"], ["-"])


def test_month_first_dates_of_spreadsheet_exports_are_read(tmp_path: Path) -> None:
    log = read_purchase_log(write(tmp_path, "user,item,timestamp,quantity\nu1,i1,12/1/2010 8:26,1\n"))

    assert log.timestamps[0] == np.datetime64("2010-12-01T08:26:00")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("log.csv", "customer,product\n1,2\n", "missing column"),
        ("log.csv", "user,item,timestamp,quantity\nu1,i1,2024-01-01,lots\n", "not a number"),
        ("log.csv", "user,item,timestamp,quantity\nu1,i1,yesterday,1\n", "as a date"),
        ("log.csv", "user,item,timestamp,quantity\nu1,i1,2024-01-01,0\n", "no purchases left"),
        ("log.csv", "user,item,timestamp,quantity,basket\nu1,i1,2024-01-01,1,b\nu2,i1,2024-01-01,1,b\n", "one user"),
        ("log.json", "{}", "unsupported file type"),
        ("log.parquet", "not parquet", "not a readable parquet file"),
    ],
)
def test_unusable_files_are_refused_with_a_clear_reason(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_purchase_log(write(tmp_path, text, name))


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        read_purchase_log(tmp_path / "nowhere.csv")
