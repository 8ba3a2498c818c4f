"""Catalog rules: product search, filters and facets, product reads and writes, derived data upkeep."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from patron.catalog.models import Category, Product

SORT_OPTIONS: dict[str, str] = {
    "relevance": "Relevance",
    "price": "Price: low to high",
    "-price": "Price: high to low",
    "newest": "Newest",
    "best_selling": "Best selling",
}
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class ProductFilters:
    q: str = ""
    category: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    brands: tuple[str, ...] = ()
    attributes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    in_stock: bool = False
    sort: str = ""
    page: int = 1
    page_size: int = 24


@dataclass
class FacetValue:
    value: str
    label: str
    count: int
    selected: bool


@dataclass
class Facets:
    categories: list[FacetValue] = field(default_factory=list)
    brands: list[FacetValue] = field(default_factory=list)
    attributes: dict[str, list[FacetValue]] = field(default_factory=dict)
    in_stock_count: int = 0
    price_min: Decimal | None = None
    price_max: Decimal | None = None


@dataclass
class ProductPage:
    products: list[Product]
    total: int
    page: int
    page_size: int
    num_pages: int
    facets: Facets
    corrected_query: str | None = None

    @property
    def has_next(self) -> bool:
        return self.page < self.num_pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1


@dataclass
class Suggestion:
    label: str
    url: str
    kind: str


def search_products(filters: ProductFilters) -> ProductPage:
    raise NotImplementedError


def parse_filters(params: Mapping[str, str | list[str]]) -> ProductFilters:
    raise NotImplementedError


def suggest(prefix: str, limit: int = 8) -> list[Suggestion]:
    raise NotImplementedError


def get_product(slug_or_id: str | int, *, include_inactive: bool = False) -> Product:
    raise NotImplementedError


def get_category(slug: str) -> Category:
    raise NotImplementedError


def category_ancestors(category: Category) -> list[Category]:
    raise NotImplementedError


def category_tree() -> list[Category]:
    raise NotImplementedError


def bestsellers(limit: int = 8) -> list[Product]:
    raise NotImplementedError


def new_arrivals(limit: int = 8) -> list[Product]:
    raise NotImplementedError


def refresh_products(product_ids: Iterable[int]) -> None:
    raise NotImplementedError


def refresh_sales_counts(product_ids: Iterable[int] | None = None) -> None:
    raise NotImplementedError


def rebuild_search_index(progress: Callable[[int, int], None] | None = None) -> None:
    raise NotImplementedError


def catalog_version() -> int:
    raise NotImplementedError
