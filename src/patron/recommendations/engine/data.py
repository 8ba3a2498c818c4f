"""Purchase logs: reading them from CSV or Parquet, and turning them into user x item and basket x item matrices.

Two layouts are accepted. The generic one has the columns `user`, `item`, `timestamp`, `quantity` and
optionally `basket` (order id; without it a user's lines with the same timestamp form one basket), `name` and
`price`. The Online Retail II layout is taken as published (`Invoice`, `StockCode`, `Description`, `Quantity`,
`InvoiceDate`, `Price`, `Customer ID`, `Country`) and cleaned: cancellations (invoices starting with C), lines
without a customer, non-positive quantities or prices, and lines that are not merchandise (postage, fees,
manual adjustments, samples, vouchers, test items) are dropped; stock codes are upper-cased, since the file
spells some of them both ways.

Timestamps without a zone are taken as they are (the store's clock); ones with a zone are converted to UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import scipy.sparse as sp

ONLINE_RETAIL_COLUMNS = ("invoice", "stockcode", "description", "quantity", "invoicedate", "price", "customer id")
GENERIC_COLUMNS = ("user", "item", "timestamp", "quantity")
NAME_COLUMNS = ("name", "description")
PRICE_COLUMNS = ("price", "unit_price")
# Online Retail II lines that are bookkeeping rather than goods.
SERVICE_CODES = frozenset(
    {"POST", "DOT", "M", "C2", "C3", "D", "S", "B", "CRUK", "PADS", "BANK CHARGES", "AMAZONFEE", "GIFT"}
)
SERVICE_PREFIXES = ("ADJUST", "TEST", "GIFT_")
# Day-first and month-first dates are ambiguous; month-first is tried first, as in the UCI CSV exports.
DATE_FORMATS = ("%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d.%m.%Y %H:%M")


def _empty_strings() -> np.ndarray:
    return np.empty(0, dtype=object)


def _empty_floats() -> np.ndarray:
    return np.empty(0, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class PurchaseLog:
    """One row per purchased line, in any order. `item_names` ("" when unknown) and `unit_prices` (NaN when
    unknown) are what an import needs to create products; models ignore them."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    timestamps: np.ndarray
    quantities: np.ndarray
    basket_ids: np.ndarray
    item_names: np.ndarray = field(default_factory=_empty_strings)
    unit_prices: np.ndarray = field(default_factory=_empty_floats)

    def __post_init__(self) -> None:
        rows = len(self.user_ids)
        if not len(self.item_names):
            object.__setattr__(self, "item_names", np.full(rows, "", dtype=object))
        if not len(self.unit_prices):
            object.__setattr__(self, "unit_prices", np.full(rows, np.nan))
        lengths = {len(getattr(self, name)) for name in self.__dataclass_fields__}
        if lengths != {rows}:
            raise ValueError("Every column of a purchase log must have one value per row.")

    def __len__(self) -> int:
        return len(self.user_ids)

    def select(self, rows: np.ndarray) -> PurchaseLog:
        """The log's rows picked by a boolean mask or an index array."""
        return PurchaseLog(**{name: getattr(self, name)[rows] for name in self.__dataclass_fields__})


@dataclass(frozen=True)
class InteractionMatrix:
    user_ids: list[str]
    item_ids: list[str]
    matrix: sp.csr_matrix


def read_purchase_log(path: Path) -> PurchaseLog:
    """The cleaned purchase lines of a CSV or Parquet file; ValueError when the file cannot be used."""
    table = _read_table(Path(path))
    columns = {name.strip().lower(): name for name in table.column_names}
    if all(name in columns for name in ONLINE_RETAIL_COLUMNS):
        log = _online_retail(table, columns)
    elif all(name in columns for name in GENERIC_COLUMNS):
        log = _generic(table, columns)
    else:
        missing = [name for name in GENERIC_COLUMNS if name not in columns]
        raise ValueError(
            f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(GENERIC_COLUMNS)}"
            f"[, basket, name, price] or the Online Retail II columns (found: {', '.join(table.column_names)})."
        )
    if not len(log):
        raise ValueError(f"{path}: no purchases left after dropping cancelled, empty and invalid lines.")
    _check_baskets(log, path)
    return log


def _read_table(path: Path) -> pa.Table:
    if not path.is_file():
        raise ValueError(f"{path}: no such file.")
    suffixes = [suffix.lower() for suffix in path.suffixes]
    try:
        if suffixes[-1:] in ([".parquet"], [".pq"]):
            return pq.read_table(path)
        if ".csv" in suffixes or ".tsv" in suffixes:
            return _read_csv(path, delimiter="\t" if ".tsv" in suffixes else ",")
    except (pa.ArrowException, OSError) as error:
        raise ValueError(f"{path}: not a readable {suffixes[-1].lstrip('.')} file ({error}).") from error
    raise ValueError(f"{path}: unsupported file type; use .csv, .tsv or .parquet.")


def _read_csv(path: Path, *, delimiter: str) -> pa.Table:
    # Every column is read as text and converted here: type inference from the first rows would fail later on
    # stock codes such as 85123A after a block of numeric ones.
    parse = pa_csv.ParseOptions(delimiter=delimiter)
    with pa_csv.open_csv(path, parse_options=parse) as reader:
        header = reader.schema.names
    return pa_csv.read_csv(
        path,
        parse_options=parse,
        # Only an empty field is missing: "NA" or "-" may well be someone's id.
        convert_options=pa_csv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=True, null_values=[""]
        ),
    )


def _text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column as trimmed text; whole-number floats (ids read from a spreadsheet) lose their ".0", NaN is missing."""
    if pa.types.is_floating(column.type):
        column = pc.if_else(pc.is_nan(column), pa.scalar(None, column.type), column)
        whole = pc.equal(pc.floor(column), column)
        column = pc.if_else(
            whole, pc.cast(pc.cast(column, pa.int64(), safe=False), pa.string()), pc.cast(column, pa.string())
        )
    elif not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = pc.cast(column, pa.string())
    return pc.utf8_trim_whitespace(column)


def _number(column: pa.ChunkedArray, name: str) -> pa.ChunkedArray:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        column = pc.utf8_trim_whitespace(column)
    try:
        return pc.cast(column, pa.float64())
    except pa.ArrowInvalid as error:
        raise ValueError(f"column {name!r} has a value that is not a number ({error}).") from error


def _timestamps(column: pa.ChunkedArray, name: str) -> np.ndarray:
    """datetime64[s] values of a timestamp, date or text column."""
    if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
        parsed = column
    else:
        text = pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
        parsed = _parse_times(text, name)
    if pa.types.is_date(parsed.type):
        parsed = pc.cast(parsed, pa.timestamp("s"))
    unit = parsed.type.unit
    # Naive values count the clock time; zoned ones count UTC.
    epoch = parsed.cast(pa.int64())
    return epoch.to_numpy().astype(f"datetime64[{unit}]").astype("datetime64[s]")


def _parse_times(text: pa.ChunkedArray, name: str) -> pa.ChunkedArray:
    for target in (pa.timestamp("us"), pa.timestamp("us", tz="UTC")):
        try:
            return pc.cast(text, target)
        except pa.ArrowInvalid:
            continue
    for date_format in DATE_FORMATS:
        try:
            return pc.strptime(text, format=date_format, unit="s")
        except pa.ArrowInvalid:
            continue
    sample = next((value for value in text.to_pylist()[:1000] if value), "")
    raise ValueError(f"column {name!r}: cannot read {sample!r} as a date and time (use ISO 8601).")


def _valid(*conditions: pa.ChunkedArray) -> pa.ChunkedArray:
    """Row mask of conditions that all hold; a null anywhere drops the row."""
    mask = conditions[0]
    for condition in conditions[1:]:
        mask = pc.and_kleene(mask, condition)
    return pc.fill_null(mask, False)


def _strings(column: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)


def _online_retail(table: pa.Table, columns: dict[str, str]) -> PurchaseLog:
    invoice = _text(table[columns["invoice"]])
    code = pc.utf8_upper(_text(table[columns["stockcode"]]))
    # Customer ids read from a spreadsheet export as text can carry a ".0".
    customer = pc.replace_substring_regex(_text(table[columns["customer id"]]), r"^(\d+)\.0+$", r"\1")
    quantity = _number(table[columns["quantity"]], columns["quantity"])
    price = _number(table[columns["price"]], columns["price"])
    service = pc.is_in(code, value_set=pa.array(sorted(SERVICE_CODES)))
    for prefix in SERVICE_PREFIXES:
        service = pc.or_(service, pc.starts_with(code, prefix))
    keep = _valid(
        pc.invert(pc.starts_with(invoice, "C")),
        pc.invert(service),
        pc.greater(pc.utf8_length(customer), 0),
        pc.greater(pc.utf8_length(code), 0),
        pc.greater(quantity, 0),
        pc.greater(price, 0),
        pc.is_valid(table[columns["invoicedate"]]),
    )
    kept = table.filter(keep)
    names = pc.fill_null(_text(kept[columns["description"]]), "")
    return PurchaseLog(
        user_ids=_strings(customer.filter(keep)),
        item_ids=_strings(code.filter(keep)),
        timestamps=_timestamps(kept[columns["invoicedate"]], columns["invoicedate"]),
        quantities=quantity.filter(keep).to_numpy().astype(np.float32),
        basket_ids=_strings(invoice.filter(keep)),
        item_names=_strings(names),
        unit_prices=price.filter(keep).to_numpy().astype(np.float64),
    )


def _generic(table: pa.Table, columns: dict[str, str]) -> PurchaseLog:
    user = _text(table[columns["user"]])
    item = _text(table[columns["item"]])
    quantity = _number(table[columns["quantity"]], columns["quantity"])
    keep = _valid(
        pc.greater(pc.utf8_length(user), 0),
        pc.greater(pc.utf8_length(item), 0),
        pc.greater(quantity, 0),
        pc.is_valid(table[columns["timestamp"]]),
    )
    kept = table.filter(keep)
    users = _strings(user.filter(keep))
    timestamps = _timestamps(kept[columns["timestamp"]], columns["timestamp"])
    if "basket" in columns:
        baskets = _strings(pc.fill_null(_text(kept[columns["basket"]]), ""))
    else:
        baskets = users + "@" + np.datetime_as_string(timestamps).astype(object)
    name_column = next((columns[name] for name in NAME_COLUMNS if name in columns), None)
    price_column = next((columns[name] for name in PRICE_COLUMNS if name in columns), None)
    return PurchaseLog(
        user_ids=users,
        item_ids=_strings(item.filter(keep)),
        timestamps=timestamps,
        quantities=quantity.filter(keep).to_numpy().astype(np.float32),
        basket_ids=baskets,
        item_names=_strings(pc.fill_null(_text(kept[name_column]), "")) if name_column else _empty_strings(),
        unit_prices=(
            pc.fill_null(_number(kept[price_column], price_column), np.nan).to_numpy()
            if price_column
            else _empty_floats()
        ),
    )


def _check_baskets(log: PurchaseLog, path: Path) -> None:
    """A basket (order) belongs to one user; a file that says otherwise is refused rather than guessed at."""
    baskets, basket_codes = np.unique(log.basket_ids, return_inverse=True)
    _, user_codes = np.unique(log.user_ids, return_inverse=True)
    lowest = np.full(len(baskets), len(log), dtype=np.int64)
    highest = np.full(len(baskets), -1, dtype=np.int64)
    np.minimum.at(lowest, basket_codes, user_codes)
    np.maximum.at(highest, basket_codes, user_codes)
    shared = np.flatnonzero(lowest != highest)
    if len(shared):
        raise ValueError(f"{path}: basket {baskets[shared[0]]!r} has lines of more than one user.")


def _codes(values: np.ndarray, vocabulary: Sequence[str] | None) -> tuple[list[str], np.ndarray]:
    """Sorted distinct values (or the given vocabulary) and each value's position in it (-1 when absent)."""
    if vocabulary is None:
        distinct, codes = np.unique(values, return_inverse=True)
        return distinct.tolist(), codes
    vocabulary = list(vocabulary)
    position = {value: index for index, value in enumerate(vocabulary)}
    distinct, inverse = np.unique(values, return_inverse=True)
    mapped = np.array([position.get(value, -1) for value in distinct.tolist()], dtype=np.int64)
    return vocabulary, mapped[inverse]


def interaction_matrix(log: PurchaseLog, *, items: Sequence[str] | None = None) -> InteractionMatrix:
    """Users x items, weighted log(1 + number of baskets in which the user bought the item).

    Counting baskets rather than units keeps a wholesale order of 1,000 pieces from outweighing a customer's
    habit; with `items`, the columns are exactly those items and lines of other items are left out.
    """
    item_ids, item_codes = _codes(log.item_ids, items)
    known = item_codes >= 0
    user_ids, user_codes = _codes(log.user_ids[known], None)
    _, basket_codes = np.unique(log.basket_ids[known], return_inverse=True)
    item_codes = item_codes[known]
    width = max(len(item_ids), 1)
    pairs = user_codes.astype(np.int64) * width + item_codes
    # One count per (user, item, basket), however many lines the basket has of the item.
    order = np.lexsort((basket_codes, pairs))
    pairs, basket_codes = pairs[order], basket_codes[order]
    first = np.ones(len(pairs), dtype=bool)
    first[1:] = (pairs[1:] != pairs[:-1]) | (basket_codes[1:] != basket_codes[:-1])
    pair_keys, baskets = np.unique(pairs[first], return_counts=True)
    matrix = sp.csr_matrix(
        (np.log1p(baskets).astype(np.float32), (pair_keys // width, pair_keys % width)),
        shape=(len(user_ids), len(item_ids)),
    )
    return InteractionMatrix(user_ids=user_ids, item_ids=item_ids, matrix=matrix)


def basket_matrix(log: PurchaseLog, *, items: Sequence[str] | None = None) -> sp.csr_matrix:
    """Baskets x items, 1 where the basket holds the item (rows in basket id order)."""
    item_ids, item_codes = _codes(log.item_ids, items)
    known = item_codes >= 0
    baskets, basket_codes = _codes(log.basket_ids[known], None)
    matrix = sp.csr_matrix(
        (np.ones(len(basket_codes), dtype=np.float32), (basket_codes, item_codes[known])),
        shape=(len(baskets), len(item_ids)),
    )
    matrix.data[:] = 1.0
    return matrix
