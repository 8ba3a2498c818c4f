"""Catalog rules: product search with filters and facets, product reads and writes, derived data upkeep.

Search semantics (the same on PostgreSQL and SQLite):
- The query is split into words (case and accents ignored). A product matches when every word is found
  in its name, brand, category name, description or attribute values; the last word also matches as a
  prefix, so results follow the shopper's typing. Name matches rank above brand, category and text.
- A word that is not in the catalog's vocabulary is replaced by the closest known word (Damerau-Levenshtein
  distance, candidates from trigram indexes) and `ProductPage.corrected_query` says so.
- When no product has every word, products with any of the words are shown instead (ranked).

Facets describe the current results; each facet ignores only its own selection, so a shopper sees what
ticking another brand or colour would add: brand counts ignore the brand filter, counts of an attribute
ignore that attribute's filter, `in_stock_count` ignores the in-stock filter and the price range ignores
the price filter. The category facet lists the children of the selected category (roots without one),
each with the results in its subtree.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from itertools import batched
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, connection, transaction
from django.db.models import (
    BooleanField,
    Case,
    Count,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Greatest
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from patron.catalog import renditions
from patron.catalog.models import Category, Product, ProductAttribute, ProductImage, SearchTerm, Variant
from patron.catalog.search import Document, SearchIndex, damerau_levenshtein, normalize, search_index, tokenize
from patron.errors import Conflict, NotFound, OutOfStock, ValidationFailed

if TYPE_CHECKING:
    from patron.accounts.models import User

SORT_OPTIONS: dict[str, str] = {
    "relevance": "Relevance",
    "price": "Price: low to high",
    "-price": "Price: high to low",
    "newest": "Newest",
    "best_selling": "Best selling",
}
ORDERINGS: dict[str, tuple[str, ...]] = {
    "price": ("min_price", "id"),
    "-price": ("-min_price", "-id"),
    "newest": ("-created_at", "-id"),
    "best_selling": ("-sales_count", "-created_at", "-id"),
}
DEFAULT_PAGE_SIZE = 24
MAX_PAGE_SIZE = 100
MAX_PAGE = 100_000
MAX_QUERY_LENGTH = 200
MAX_QUERY_WORDS = 8
MAX_SHELF_SIZE = 100
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})
ATTRIBUTE_PREFIX = "attr_"
CENT = Decimal("0.01")
REFRESH_BATCH = 500
VOCABULARY_BATCH = 500
# Sales count towards best-selling once the order is paid and until it is cancelled or refunded.
COUNTED_ORDER_STATUSES = ("paid", "processing", "shipped", "delivered")
# Shorter words have too many plausible neighbours to be corrected safely.
MIN_CORRECTED_LENGTH = 4
CATALOG_VERSION_KEY = "catalog:version"
CATEGORY_CACHE_SECONDS = 3600  # a version bump makes the cached copy unreachable sooner


# --- Catalog version -------------------------------------------------------------------------------


def catalog_version() -> int:
    """A counter in the cache that every catalog write bumps; page caches include it in their keys.

    It starts from the clock, so a cache that lost the key never reuses a version of older pages.
    """
    version = cache.get(CATALOG_VERSION_KEY)
    if version is None:
        fresh = time.time_ns() // 1000
        cache.add(CATALOG_VERSION_KEY, fresh, None)
        # A cache that keeps nothing (DummyCache) yields a new version on every call, so nothing is reused.
        version = cache.get(CATALOG_VERSION_KEY, fresh)
    return int(version)


def bump_catalog_version() -> None:
    """Invalidate catalog page caches now and, in case a reader cached the old data meanwhile, after commit."""
    _bump()
    transaction.on_commit(_bump)


_changes_made_here = 0


def catalog_changes_made_here() -> int:
    """How many catalog changes this process has made: a reader that keeps the version for a moment (to spare a
    round trip to the cache) re-reads it as soon as this process changed the catalog itself."""
    return _changes_made_here


def _bump() -> None:
    global _changes_made_here
    _changes_made_here += 1
    try:
        cache.incr(CATALOG_VERSION_KEY)
    except ValueError:
        # A lost counter restarts from the clock, which is past every version handed out before.
        catalog_version()


# --- Categories ------------------------------------------------------------------------------------


def category_tree() -> list[Category]:
    """All categories in tree order (a parent before its children), one query."""
    return list(Category.objects.order_by("path", "position", "name"))


@dataclass
class _Categories:
    by_id: dict[int, Category]
    by_slug: dict[str, Category]
    ordered: list[Category]


def _categories() -> _Categories:
    key = f"catalog:categories:{catalog_version()}"
    tree: list[Category] | None = cache.get(key)
    if tree is None:
        tree = category_tree()
        cache.set(key, tree, CATEGORY_CACHE_SECONDS)
    return _Categories({c.pk: c for c in tree}, {c.slug: c for c in tree}, tree)


def _path_ids(category: Category) -> list[int]:
    return [int(part) for part in category.path.split("/") if part]


def get_category(slug: str) -> Category:
    category = Category.objects.filter(slug=slug).first()
    if category is None:
        raise NotFound("No such category.")
    return category


def category_ancestors(category: Category) -> list[Category]:
    """The categories above `category`, root first (the category itself excluded)."""
    ids = _path_ids(category)[:-1]
    if not ids:
        return []
    return list(Category.objects.filter(pk__in=ids).order_by("path"))


# --- Filters -------------------------------------------------------------------------------------------


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
    page_size: int = DEFAULT_PAGE_SIZE


def _values(params: Mapping[str, str | list[str]], key: str) -> list[str]:
    getlist = getattr(params, "getlist", None)
    raw: object = getlist(key) if getlist is not None else params.get(key)
    if raw is None:
        return []
    if isinstance(raw, str):
        return [raw]
    return [str(item) for item in raw]  # type: ignore[attr-defined]


def _last(params: Mapping[str, str | list[str]], key: str) -> str:
    values = _values(params, key)
    return values[-1].strip() if values else ""


def _price(value: str, name: str) -> Decimal | None:
    if not value:
        return None
    try:
        price = Decimal(value)
    except InvalidOperation:
        price = Decimal("NaN")
    if not price.is_finite() or price < 0 or price >= Decimal("1e10"):
        raise ValidationFailed("Prices are amounts such as 19.99.", fields={name: ["Enter an amount of 0 or more."]})
    return price.quantize(CENT)


def _positive_int(value: str, name: str, default: int, maximum: int) -> int:
    if not value:
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= len(str(maximum))) or not 1 <= int(value) <= maximum:
        raise ValidationFailed(f"{name} must be a whole number from 1.", fields={name: [f"Enter 1 to {maximum}."]})
    return int(value)


def parse_filters(params: Mapping[str, str | list[str]]) -> ProductFilters:
    """Filters from web GET parameters or API query parameters (the one parser for both).

    q, category, min_price, max_price, brand (repeatable), attr_<name> (repeatable, e.g. attr_colour=Red),
    in_stock=1, sort, page, page_size (capped at 100). Raises ValidationFailed on bad values.
    """
    min_price = _price(_last(params, "min_price"), "min_price")
    max_price = _price(_last(params, "max_price"), "max_price")
    if min_price is not None and max_price is not None and min_price > max_price:
        raise ValidationFailed(
            "The lowest price is above the highest.", fields={"min_price": ["Must not exceed max_price."]}
        )
    in_stock = _last(params, "in_stock").lower()
    if in_stock not in TRUE_WORDS | FALSE_WORDS:
        raise ValidationFailed("in_stock is a yes/no value.", fields={"in_stock": ["Use 1 or 0."]})
    sort = _last(params, "sort")
    if sort and sort not in SORT_OPTIONS:
        raise ValidationFailed("Unknown sort order.", fields={"sort": [f"Choose one of {', '.join(SORT_OPTIONS)}."]})
    attributes: dict[str, list[str]] = {}
    for key in params:
        if key.startswith(ATTRIBUTE_PREFIX) and len(key) > len(ATTRIBUTE_PREFIX):
            name = key[len(ATTRIBUTE_PREFIX) :].strip().lower()
            chosen = [value.strip() for value in _values(params, key) if value.strip()]
            if chosen:
                attributes.setdefault(name, []).extend(chosen)
    page_size = _positive_int(_last(params, "page_size"), "page_size", DEFAULT_PAGE_SIZE, 10**6)
    return ProductFilters(
        q=_last(params, "q")[:MAX_QUERY_LENGTH],
        category=_last(params, "category") or None,
        min_price=min_price,
        max_price=max_price,
        brands=tuple(dict.fromkeys(brand.strip() for brand in _values(params, "brand") if brand.strip())),
        attributes=tuple((name, tuple(dict.fromkeys(values))) for name, values in sorted(attributes.items())),
        in_stock=in_stock in TRUE_WORDS,
        sort=sort,
        page=_positive_int(_last(params, "page"), "page", 1, MAX_PAGE),
        page_size=min(page_size, MAX_PAGE_SIZE),
    )


# --- Search ----------------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class _Match:
    """How the text query was understood: the words searched, AND or OR, and the ranked product ids."""

    tokens: tuple[str, ...]
    every: bool
    ranked_ids: list[int]
    corrected_query: str | None

    def product_ids_sql(self, index: SearchIndex) -> RawSQL:
        sql, params = index.match_subquery(self.tokens, every=self.every)
        return RawSQL(sql, params)  # noqa: S611 - fixed SQL, the words are bound parameters


def _max_typo_distance(word: str) -> int:
    return 1 if len(word) <= 5 else 2


def _closest(word: str, candidates: list[tuple[str, int]], *, as_prefix: bool) -> str | None:
    """The known word nearest to `word`; for the word being typed, its beginning counts too."""
    best: tuple[int, int, str] | None = None
    for term, frequency in candidates:
        distance = damerau_levenshtein(word, term)
        if as_prefix:
            for length in range(max(1, len(word) - 1), len(word) + 2):
                distance = min(distance, damerau_levenshtein(word, term[:length]))
        if distance <= _max_typo_distance(word):
            key = (distance, -frequency, term)
            best = key if best is None or key < best else best
    return best[2] if best else None


def _corrected(index: SearchIndex, tokens: tuple[str, ...]) -> tuple[str, ...]:
    vocabulary = index.vocabulary_matches(tokens)
    corrected = list(tokens)
    for position, word in enumerate(tokens):
        last = position == len(tokens) - 1
        if word in vocabulary.known or (last and vocabulary.last_is_prefix) or len(word) < MIN_CORRECTED_LENGTH:
            continue
        replacement = _closest(word, vocabulary.candidates.get(position, []), as_prefix=last)
        if replacement:
            corrected[position] = replacement
    return tuple(corrected)


def _resolve_query(index: SearchIndex, q: str, *, limit: int | None = None) -> _Match | None:
    tokens = tuple(tokenize(q)[:MAX_QUERY_WORDS])
    if not tokens:
        return None
    ranked = index.ranked_ids(tokens, every=True, limit=limit)
    if ranked:
        return _Match(tokens, True, ranked, None)
    corrected = _corrected(index, tokens)
    correction = " ".join(corrected) if corrected != tokens else None
    if correction:
        ranked = index.ranked_ids(corrected, every=True, limit=limit)
        if ranked:
            return _Match(corrected, True, ranked, correction)
    if len(corrected) > 1:
        ranked = index.ranked_ids(corrected, every=False, limit=limit)
        if ranked:
            return _Match(corrected, False, ranked, correction)
    return _Match(corrected, True, [], correction)


def _with_related(queryset: QuerySet[Product]) -> QuerySet[Product]:
    return queryset.select_related("category").prefetch_related(
        Prefetch("images", queryset=ProductImage.objects.order_by("position", "id")),
        Prefetch("variants", queryset=Variant.objects.order_by("position", "id")),
    )


def _attribute_filter(queryset: QuerySet[Product], name: str, values: Sequence[str]) -> QuerySet[Product]:
    having = ProductAttribute.objects.filter(name=name, value__in=values).values("product_id")
    return queryset.filter(id__in=having)


def _page_bounds(filters: ProductFilters) -> tuple[int, int]:
    return max(1, filters.page), max(1, min(filters.page_size, MAX_PAGE_SIZE))


def search_products(filters: ProductFilters) -> ProductPage:
    """One page of matching active products with facets; a bounded number of queries whatever the page size.

    Products come with their category, images and variants (all, in order). A page past the last one is
    empty. An unknown category raises NotFound.
    """
    if filters.sort and filters.sort not in SORT_OPTIONS:
        raise ValidationFailed("Unknown sort order.", fields={"sort": ["Unknown sort order."]})
    page, page_size = _page_bounds(filters)
    categories = _categories()
    selected = None
    if filters.category:
        selected = categories.by_slug.get(filters.category)
        if selected is None:
            raise NotFound("No such category.")
    index = search_index()
    match = _resolve_query(index, filters.q)
    corrected_query = match.corrected_query if match else None
    if match is not None and not match.ranked_ids:
        return ProductPage([], 0, page, page_size, 1, Facets(), corrected_query)

    scoped = Product.objects.filter(is_active=True)
    if match is not None:
        scoped = scoped.filter(id__in=match.product_ids_sql(index))
    if selected is not None:
        subtree = [c.pk for c in categories.ordered if c.path.startswith(selected.path)]
        scoped = scoped.filter(category_id__in=subtree)
    price_q = Q()
    if filters.min_price is not None:
        price_q &= Q(min_price__gte=filters.min_price)
    if filters.max_price is not None:
        price_q &= Q(min_price__lte=filters.max_price)
    product_q = price_q
    if filters.brands:
        product_q &= Q(brand__in=filters.brands)
    if filters.in_stock:
        product_q &= Q(total_stock__gt=0)

    with_attributes = scoped
    for name, values in filters.attributes:
        with_attributes = _attribute_filter(with_attributes, name, values)
    results = with_attributes.filter(product_q)

    facets_key = _facets_cache_key(filters, match)
    cached: tuple[Facets, int] | None = cache.get(facets_key)
    if cached is None:
        facets, total = _product_facets(with_attributes, filters, price_q, categories, selected)
        if match is None and selected is None and not filters.attributes and not product_q:
            facets.attributes = _catalog_attribute_facets()
        else:
            facets.attributes = _attribute_facets(scoped.filter(product_q), filters.attributes)
        cache.set(facets_key, (facets, total), CATEGORY_CACHE_SECONDS)
    else:
        facets, total = cached
    num_pages = max(1, -(-total // page_size))
    offset = (page - 1) * page_size

    order = filters.sort or ("relevance" if match else "newest")
    if order == "relevance" and match is None:
        order = "newest"
    if order == "relevance" and match is not None:
        ranked = match.ranked_ids
        if selected is not None or filters.attributes or product_q:
            allowed = set(results.order_by().values_list("id", flat=True))
            ranked = [product_id for product_id in ranked if product_id in allowed]
        page_ids = ranked[offset : offset + page_size]
        found = _with_related(Product.objects.filter(id__in=page_ids, is_active=True)).in_bulk() if page_ids else {}
        products = [found[product_id] for product_id in page_ids if product_id in found]
    else:
        products = list(_with_related(results.order_by(*ORDERINGS[order]))[offset : offset + page_size])
    return ProductPage(products, total, page, page_size, num_pages, facets, corrected_query)


def _facets_cache_key(filters: ProductFilters, match: _Match | None) -> str:
    """Facets and the result count depend on the catalog and on the filters, not on the page or the order."""
    understood = (match.tokens, match.every) if match is not None else None
    scope = (understood, filters.category, filters.min_price, filters.max_price, filters.brands)
    selection = repr((*scope, filters.attributes, filters.in_stock))
    return f"catalog:facets:{catalog_version()}:{hashlib.sha256(selection.encode()).hexdigest()}"


def _product_facets(
    queryset: QuerySet[Product],
    filters: ProductFilters,
    price_q: Q,
    categories: _Categories,
    selected: Category | None,
) -> tuple[Facets, int]:
    """Category, brand, stock and price facets plus the result count, from one grouped query."""
    stocked = Case(When(total_stock__gt=0, then=Value(True)), default=Value(False), output_field=BooleanField())
    counted = Count("id", filter=price_q) if price_q else Count("id")
    groups = (
        queryset.annotate(stocked=stocked)
        .values("category_id", "brand", "stocked")
        .annotate(matching=counted, low=Min("min_price"), high=Max("min_price"))
        .order_by()
    )
    brands: Counter[str] = Counter()
    category_counts: Counter[int] = Counter()
    total = in_stock_count = 0
    low: Decimal | None = None
    high: Decimal | None = None
    level = selected.depth + 1 if selected is not None else 0
    for group in groups:
        brand_ok = not filters.brands or group["brand"] in filters.brands
        stock_ok = not filters.in_stock or group["stocked"]
        matching = group["matching"]
        if stock_ok and group["brand"]:
            brands[group["brand"]] += matching
        if brand_ok and group["stocked"]:
            in_stock_count += matching
        if not (brand_ok and stock_ok):
            continue
        total += matching
        low = group["low"] if low is None else min(low, group["low"])
        high = group["high"] if high is None else max(high, group["high"])
        leaf = categories.by_id.get(group["category_id"])
        path = _path_ids(leaf) if leaf is not None else []
        if len(path) > level:
            category_counts[path[level]] += matching

    brand_facets = [FacetValue(b, b, n, b in filters.brands) for b, n in brands.items() if n]
    brand_facets += [FacetValue(b, b, 0, True) for b in filters.brands if not brands.get(b)]
    brand_facets.sort(key=lambda facet: (-facet.count, facet.label.casefold()))
    category_facets = [
        FacetValue(c.slug, c.name, category_counts[c.pk], False)
        for c in categories.ordered
        if category_counts.get(c.pk)
    ]
    facets = Facets(
        categories=category_facets,
        brands=brand_facets,
        in_stock_count=in_stock_count,
        price_min=_money(low),
        price_max=_money(high),
    )
    return facets, total


def _money(value: Decimal | float | None) -> Decimal | None:
    """Aggregates come back as floats or unscaled decimals on some databases."""
    return None if value is None else Decimal(str(value)).quantize(CENT)


def _attribute_facets(
    queryset: QuerySet[Product], selected: tuple[tuple[str, tuple[str, ...]], ...]
) -> dict[str, list[FacetValue]]:
    """Value counts per attribute; a product counts for attribute N when it passes every other attribute filter."""
    rows = ProductAttribute.objects.filter(product_id__in=queryset.values("id"))
    for name, values in selected:
        having = ProductAttribute.objects.filter(name=name, value__in=values).values("product_id")
        rows = rows.filter(Q(name=name) | Q(product_id__in=having))
    counts = rows.values("name", "value").annotate(count=Count("id")).order_by("name", "value")
    chosen = {name: set(values) for name, values in selected}
    facets: dict[str, list[FacetValue]] = {}
    for row in counts:
        name, value = row["name"], row["value"]
        facets.setdefault(name, []).append(FacetValue(value, value, row["count"], value in chosen.get(name, ())))
    for name, values in selected:
        present = {facet.value for facet in facets.get(name, [])}
        missing = [FacetValue(value, value, 0, True) for value in values if value not in present]
        if missing:
            facets[name] = sorted([*facets.get(name, []), *missing], key=lambda facet: facet.value)
    return facets


def _catalog_attribute_facets() -> dict[str, list[FacetValue]]:
    """Value counts over every active product, as `_attribute_facets` would give without filters.

    Most products are active, so counting every row and taking away those of inactive products reads
    the (name, value) index in order instead of joining every row with its product.
    """
    sql = (
        "SELECT name, value, SUM(n) FROM ("
        "SELECT name, value, COUNT(*) AS n FROM catalog_productattribute GROUP BY name, value "
        "UNION ALL SELECT name, value, -COUNT(*) FROM catalog_productattribute "
        "WHERE product_id IN (SELECT id FROM catalog_product WHERE NOT is_active) GROUP BY name, value"
        ") counted GROUP BY name, value HAVING SUM(n) > 0 ORDER BY name, value"
    )
    facets: dict[str, list[FacetValue]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql)
        for name, value, count in cursor.fetchall():
            facets.setdefault(name, []).append(FacetValue(value, value, int(count), False))
    return facets


# --- Suggestions ------------------------------------------------------------------------------------------


@dataclass
class Suggestion:
    label: str
    url: str
    kind: str  # "product" | "category" | "brand"


SUGGESTED_CATEGORIES = 2
SUGGESTED_BRANDS = 2


def suggest(prefix: str, limit: int = 8) -> list[Suggestion]:
    """Search-as-you-type: matching categories and brands, then the best matching products."""
    limit = max(0, min(limit, 20))
    text = " ".join(prefix.split())[:MAX_QUERY_LENGTH]
    if not text or not limit:
        return []
    match = _resolve_query(search_index(), text, limit=limit)
    found = Product.objects.filter(id__in=match.ranked_ids).only("id", "name", "slug").in_bulk() if match else {}
    typed = normalize(text)
    category_rows = [c for c in _categories().ordered if _starts_a_word(c.name, typed)][:SUGGESTED_CATEGORIES]
    brand_rows = [brand for brand in _brands() if _starts_a_word(brand, typed)][:SUGGESTED_BRANDS]
    suggestions = [Suggestion(c.name, reverse("storefront:category", args=[c.slug]), "category") for c in category_rows]
    suggestions += [
        Suggestion(brand, f"{reverse('storefront:search')}?{urlencode({'brand': brand})}", "brand")
        for brand in brand_rows
    ]
    room = max(limit - len(suggestions), limit // 2)
    products = [found[i] for i in (match.ranked_ids if match else []) if i in found][:room]
    suggestions += [Suggestion(p.name, reverse("storefront:product", args=[p.slug]), "product") for p in products]
    return suggestions[:limit]


def _starts_a_word(label: str, typed: str) -> bool:
    words = normalize(label)
    return words.startswith(typed) or f" {typed}" in words


def _brands() -> list[str]:
    """Brands of active products, cached per catalog version (a few hundred at most)."""
    key = f"catalog:brands:{catalog_version()}"
    brands: list[str] | None = cache.get(key)
    if brands is None:
        active = Product.objects.filter(is_active=True).exclude(brand="").order_by("brand")
        brands = list(active.values_list("brand", flat=True).distinct())
        cache.set(key, brands, CATEGORY_CACHE_SECONDS)
    return brands


# --- Product reads ----------------------------------------------------------------------------------------


def get_product(slug_or_id: str | int, *, include_inactive: bool = False) -> Product:
    """A product by id (int) or slug (str), with category, images and variants (all, in order)."""
    queryset = _with_related(Product.objects.all())
    if not include_inactive:
        queryset = queryset.filter(is_active=True)
    lookup = Q(pk=slug_or_id) if isinstance(slug_or_id, int) else Q(slug=slug_or_id)
    product = queryset.filter(lookup).first()
    if product is None:
        raise NotFound("No such product.")
    return product


def _shelf(ordering: tuple[str, ...], limit: int) -> list[Product]:
    limit = max(0, min(limit, MAX_SHELF_SIZE))
    queryset = Product.objects.filter(is_active=True, total_stock__gt=0).order_by(*ordering)
    return list(_with_related(queryset)[:limit]) if limit else []


def bestsellers(limit: int = 8) -> list[Product]:
    """The most sold products that can be bought now."""
    return _shelf(ORDERINGS["best_selling"], limit)


def new_arrivals(limit: int = 8) -> list[Product]:
    """The newest products that can be bought now."""
    return _shelf(ORDERINGS["newest"], limit)


# --- Product writes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariantData:
    sku: str
    price: Decimal
    options: Mapping[str, str] = field(default_factory=dict)
    compare_at_price: Decimal | None = None
    stock: int = 0
    is_active: bool = True


@dataclass(frozen=True)
class ProductData:
    """A product as staff submit it; `category` is a slug or an id, an empty slug is made from the name."""

    name: str
    category: str | int
    variants: Sequence[VariantData]
    slug: str = ""
    description: str = ""
    brand: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)
    is_active: bool = True


def _require_staff(actor: User | None) -> None:
    from patron.accounts.auth import staff_required

    staff_required(actor)


def _clean_money(value: Decimal, field_name: str) -> Decimal:
    if not value.is_finite() or value < 0 or value != value.quantize(CENT) or value >= Decimal("1e10"):
        raise ValidationFailed(
            "Prices are amounts of 0 or more with at most 2 decimal places.",
            fields={field_name: ["Enter an amount of 0 or more with at most 2 decimal places."]},
        )
    return value.quantize(CENT)


def _resolve_category(value: str | int) -> Category:
    lookup = Q(pk=value) if isinstance(value, int) else Q(slug=value)
    category = Category.objects.filter(lookup).first()
    if category is None:
        raise ValidationFailed("Unknown category.", fields={"category": ["Unknown category."]})
    return category


def _check_product_data(data: ProductData) -> None:
    errors: dict[str, list[str]] = {}
    if not data.name.strip():
        errors["name"] = ["A name is required."]
    if data.slug:
        try:
            validate_slug(data.slug)
        except ValidationError:
            errors["slug"] = ["Use letters, numbers, hyphens and underscores."]
    if not data.variants:
        errors["variants"] = ["A product needs at least one variant."]
    skus = [variant.sku.strip() for variant in data.variants if variant.sku.strip()]
    if len(set(skus)) != len(skus):
        errors["variants.sku"] = ["SKUs must differ."]
    combinations = [tuple(sorted(variant.options.items())) for variant in data.variants]
    if len(set(combinations)) != len(combinations):
        errors["variants.options"] = ["Each variant needs its own options."]
    if any(variant.stock < 0 for variant in data.variants):
        errors["variants.stock"] = ["Stock cannot be negative."]
    if errors:
        raise ValidationFailed("The product is not valid.", fields=errors)
    for variant in data.variants:
        _clean_money(variant.price, "variants.price")
        if variant.compare_at_price is not None:
            _clean_money(variant.compare_at_price, "variants.compare_at_price")


def _unique_slug(name: str, *, exclude_id: int | None = None) -> str:
    base = (slugify(name) or "product")[:200]
    others = Product.objects.filter(slug__startswith=base)
    if exclude_id is not None:
        others = others.exclude(pk=exclude_id)
    taken = set(others.values_list("slug", flat=True))
    slug, suffix = base, 2
    while slug in taken:
        slug, suffix = f"{base}-{suffix}", suffix + 1
    return slug


def _claim_slug(data: ProductData, product: Product) -> str:
    if not data.slug:
        return product.slug or _unique_slug(data.name, exclude_id=product.pk)
    if Product.objects.filter(slug=data.slug).exclude(pk=product.pk).exists():
        raise Conflict("Another product has this slug.", fields={"slug": ["Already in use."]})
    return data.slug


def _check_skus_free(skus: Iterable[str], product: Product) -> None:
    taken = Variant.objects.filter(sku__in=list(skus)).exclude(product_id=product.pk)
    clash = sorted(taken.values_list("sku", flat=True))
    if clash:
        raise Conflict(f"SKU already in use: {', '.join(clash)}.", fields={"variants.sku": ["Already in use."]})


def _apply_product_data(product: Product, data: ProductData) -> None:
    product.category = _resolve_category(data.category)
    product.slug = _claim_slug(data, product)
    product.name = data.name.strip()
    product.description = data.description
    product.brand = data.brand.strip()
    product.attributes = {str(key): value for key, value in data.attributes.items()}
    if data.is_active and not product.is_active:
        product.archived_at = None
    product.is_active = data.is_active


def _generated_sku(product: Product, position: int) -> str:
    """A stable SKU for a variant submitted without one: the product id and the variant's place."""
    return f"P{product.pk}-{position + 1}"


def _save_variants(product: Product, variants: Sequence[VariantData]) -> None:
    """Make the product's variants those submitted; a dropped variant that was ordered is only deactivated."""
    from patron.orders.models import OrderLine

    skus = [data.sku.strip() or _generated_sku(product, position) for position, data in enumerate(variants)]
    existing = {variant.sku: variant for variant in product.variants.all()}
    submitted = set(skus)
    dropped = [variant.pk for sku, variant in existing.items() if sku not in submitted]
    if dropped:
        ordered = set(OrderLine.objects.filter(variant_id__in=dropped).values_list("variant_id", flat=True))
        Variant.objects.filter(pk__in=ordered).update(is_active=False)
        Variant.objects.filter(pk__in=set(dropped) - ordered).delete()
    for position, data in enumerate(variants):
        variant = existing.get(skus[position]) or Variant(product=product, sku=skus[position])
        variant.options = {str(key): str(value) for key, value in data.options.items()}
        variant.price = _clean_money(data.price, "variants.price")
        variant.compare_at_price = (
            _clean_money(data.compare_at_price, "variants.compare_at_price")
            if data.compare_at_price is not None
            else None
        )
        variant.stock = data.stock
        variant.position = position
        variant.is_active = data.is_active
        variant.save()


def _write_product(product: Product, data: ProductData) -> Product:
    _check_product_data(data)
    try:
        with transaction.atomic():
            _apply_product_data(product, data)
            _check_skus_free((variant.sku.strip() for variant in data.variants if variant.sku.strip()), product)
            product.save()
            _save_variants(product, data.variants)
            refresh_products([product.pk])
    except IntegrityError as exc:
        raise Conflict("The slug or a SKU is already in use.") from exc
    return get_product(product.pk, include_inactive=True)


def create_product(actor: User | None, data: ProductData) -> Product:
    """Staff create a product with its variants."""
    _require_staff(actor)
    return _write_product(Product(), data)


def update_product(actor: User | None, product_id: int, data: ProductData) -> Product:
    """Staff replace a product and its variants; an empty slug keeps the current one."""
    _require_staff(actor)
    with transaction.atomic():
        product = Product.objects.select_for_update().filter(pk=product_id).first()
        if product is None:
            raise NotFound("No such product.")
        return _write_product(product, data)


def delete_product(actor: User | None, product_id: int) -> Product | None:
    """Staff delete a product; one that was ordered is archived instead (and returned) to keep order history."""
    from patron.orders.models import OrderLine

    _require_staff(actor)
    with transaction.atomic():
        product = Product.objects.select_for_update().filter(pk=product_id).first()
        if product is None:
            raise NotFound("No such product.")
        if OrderLine.objects.filter(product_id=product.pk).exists():
            product.is_active = False
            product.archived_at = product.archived_at or timezone.now()
            product.save(update_fields=["is_active", "archived_at", "updated_at"])
            refresh_products([product.pk])
            return get_product(product.pk, include_inactive=True)
        delete_products([product.pk])
    return None


def delete_products(product_ids: Iterable[int]) -> None:
    """Delete products (variants, images and attributes go with them) and take them out of search."""
    ids = sorted({int(product_id) for product_id in product_ids})
    images = list(ProductImage.objects.filter(product_id__in=ids).only("image", "renditions"))
    files = [str(image.image.name) for image in images] + renditions.rendition_files(images)
    with transaction.atomic():
        forget_products(ids)
        Product.objects.filter(pk__in=ids).delete()
        transaction.on_commit(lambda: renditions.delete_files(files))
    bump_catalog_version()


# --- Derived data ------------------------------------------------------------------------------------------


def _attribute_pairs(product: Product, variants: Iterable[Variant]) -> set[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    sources: list[Mapping[str, Any]] = [product.attributes or {}]
    sources += [variant.options or {} for variant in variants]
    for source in sources:
        for name, raw in source.items():
            for value in raw if isinstance(raw, list) else [raw]:
                key, text = str(name).strip().lower()[:50], str(value).strip()[:100]
                if key and text:
                    pairs.add((key, text))
    return pairs


def _document(product: Product, pairs: set[tuple[str, str]]) -> Document:
    values = " ".join(value for _, value in sorted(pairs))
    return Document(
        product_id=product.pk,
        name=" ".join(tokenize(product.name)),
        brand=" ".join(tokenize(product.brand)),
        category=" ".join(tokenize(product.category.name)),
        body=" ".join(tokenize(f"{product.description} {values}")),
    )


def _refresh_batch(index: SearchIndex, ids: Sequence[int]) -> Counter[str]:
    """Update one batch; returns the change in how many products use each vocabulary word."""
    products = list(
        Product.objects.filter(pk__in=ids)
        .select_related("category")
        .prefetch_related(Prefetch("variants", queryset=Variant.objects.order_by("position", "id")))
    )
    attributes: list[ProductAttribute] = []
    documents: list[Document] = []
    for product in products:
        active = [variant for variant in product.variants.all() if variant.is_active]
        product.min_price = min((v.price for v in active), default=Decimal("0.00"))
        product.max_price = max((v.price for v in active), default=Decimal("0.00"))
        product.total_stock = sum(v.stock for v in active)
        pairs = _attribute_pairs(product, active)
        attributes += [ProductAttribute(product=product, name=name, value=value) for name, value in pairs]
        if product.is_active:
            documents.append(_document(product, pairs))
    Product.objects.bulk_update(products, ["min_price", "max_price", "total_stock"])
    ProductAttribute.objects.filter(product_id__in=ids).delete()
    ProductAttribute.objects.bulk_create(attributes, batch_size=REFRESH_BATCH)
    change: Counter[str] = Counter()
    for old in index.read(ids):
        change.subtract(old.terms())
    for new in documents:
        change.update(new.terms())
    index.replace(ids, documents)
    return change


def _apply_vocabulary_change(change: Counter[str]) -> None:
    changed = {term: delta for term, delta in change.items() if delta}
    added = [SearchTerm(term=term, frequency=0) for term, delta in changed.items() if delta > 0]
    SearchTerm.objects.bulk_create(added, ignore_conflicts=True, batch_size=VOCABULARY_BATCH)
    for batch in batched(sorted(changed), VOCABULARY_BATCH):
        delta = Case(*[When(term=term, then=Value(changed[term])) for term in batch], output_field=IntegerField())
        SearchTerm.objects.filter(term__in=batch).update(frequency=Greatest(F("frequency") + delta, Value(0)))
    shrunk = [term for term, delta in changed.items() if delta < 0]
    for batch in batched(shrunk, VOCABULARY_BATCH):
        SearchTerm.objects.filter(term__in=batch, frequency=0).delete()


# Tables whose planner statistics go stale when many products change at once.
STATISTICS_TABLES = (
    "catalog_product",
    "catalog_variant",
    "catalog_productattribute",
    "catalog_product_search",
    "catalog_searchterm",
)


def _update_planner_statistics() -> None:
    """After a bulk change, let the database plan search and facet queries on the new data.

    Without fresh statistics PostgreSQL misjudges the vocabulary and search tables (a query for three
    known words took 10 ms through the trigram index); GIN indexes also keep new entries in an unsorted
    pending list until a vacuum, which every search then scans. Autovacuum fixes both, but only later.
    SQLite has no statistics at all until asked, and without them sorts every active product to list
    a page rather than reading the index of the sort order.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT gin_clean_pending_list('catalog_product_search_document'::regclass), "
                "gin_clean_pending_list('catalog_searchterm_term_trgm'::regclass)"
            )
            cursor.execute(f"ANALYZE {', '.join(STATISTICS_TABLES)}")
        else:
            for table in STATISTICS_TABLES:
                cursor.execute(f"ANALYZE {table}")


def refresh_products(product_ids: Iterable[int]) -> None:
    """Bring derived data in line with the products and their variants, in batches.

    Recomputes min/max price and total stock over active variants, the ProductAttribute rows (product
    attributes and variant options), the search index (active products only) and the vocabulary. Ids of
    deleted products just leave search. `sales_count` is refresh_sales_counts' business.
    """
    ids = sorted({int(product_id) for product_id in product_ids})
    if not ids:
        return
    index = search_index()
    change: Counter[str] = Counter()
    with transaction.atomic():
        for batch in batched(ids, REFRESH_BATCH):
            change.update(_refresh_batch(index, batch))
        _apply_vocabulary_change(change)
    if len(ids) >= REFRESH_BATCH:
        _update_planner_statistics()
    bump_catalog_version()


def forget_products(product_ids: Sequence[int]) -> None:
    """Take products out of search and the vocabulary (before deleting them)."""
    index = search_index()
    change: Counter[str] = Counter()
    for batch in batched(product_ids, REFRESH_BATCH):
        for old in index.read(batch):
            change.subtract(old.terms())
        index.replace(batch, [])
    _apply_vocabulary_change(change)


def rebuild_search_index(progress: Callable[[int, int], None] | None = None) -> None:
    """Rebuild derived data, search index and vocabulary of every product; `progress(done, total)` per batch."""
    ids = list(Product.objects.order_by("pk").values_list("pk", flat=True))
    index = search_index()
    change: Counter[str] = Counter()
    with transaction.atomic():
        index.clear()
        SearchTerm.objects.all().delete()
        for done, batch in enumerate(batched(ids, REFRESH_BATCH), start=1):
            change.update(_refresh_batch(index, batch))
            if progress is not None:
                progress(min(done * REFRESH_BATCH, len(ids)), len(ids))
        _apply_vocabulary_change(change)
    _update_planner_statistics()
    bump_catalog_version()


def refresh_sales_counts(product_ids: Iterable[int] | None = None) -> None:
    """Units sold per product, from the lines of paid, processing, shipped and delivered orders."""
    from patron.orders.models import OrderLine

    sold = (
        OrderLine.objects.filter(product_id=OuterRef("pk"), order__status__in=COUNTED_ORDER_STATUSES)
        .order_by()
        .values("product_id")
        .annotate(units=Sum("quantity"))
        .values("units")
    )
    value = Coalesce(Subquery(sold, output_field=IntegerField()), Value(0))
    if product_ids is None:
        Product.objects.update(sales_count=value)
        _update_planner_statistics()
    else:
        for batch in batched(sorted(set(product_ids)), REFRESH_BATCH):
            Product.objects.filter(pk__in=batch).update(sales_count=value)
    bump_catalog_version()


# --- Stock -----------------------------------------------------------------------------------------


def _stock_changes(quantities: Mapping[int, int]) -> list[tuple[int, int]]:
    """(variant id, quantity) in primary-key order, so concurrent transactions lock rows in the same order."""
    changes: list[tuple[int, int]] = []
    for variant_id, quantity in sorted(quantities.items()):
        if quantity < 0:
            raise ValidationFailed("Quantities cannot be negative.", fields={str(variant_id): ["Must be 0 or more."]})
        if quantity:
            changes.append((int(variant_id), int(quantity)))
    return changes


def _adjust_product_stock(
    changes: Sequence[tuple[int, int]], sign: int, products: Mapping[int, int] | None = None
) -> None:
    """Move each product's total stock by the change of its active variants.

    A relative update rather than a recount: the product row lock orders concurrent reservations, and each
    adds its own change to the committed total, where a recount could read a snapshot from before another's.
    `products` (variant id -> product id, active variants only) spares looking the variants up when the caller
    has them loaded.
    """
    if products is None:
        variants = Variant.objects.filter(pk__in=[variant_id for variant_id, _ in changes], is_active=True)
        products = dict(variants.values_list("pk", "product_id"))
    per_product: Counter[int] = Counter()
    for variant_id, quantity in changes:
        if variant_id in products:
            per_product[products[variant_id]] += sign * quantity
    for product_id in sorted(per_product):
        Product.objects.filter(pk=product_id).update(total_stock=F("total_stock") + per_product[product_id])


def reserve_stock(quantities: Mapping[int, int], *, products: Mapping[int, int] | None = None) -> None:
    """Take `quantities` (variant id -> units) out of stock, all or nothing.

    Each variant is decremented by a conditional UPDATE (only where enough is left), so stock never goes
    below zero even when many checkouts race for the last units. Raises OutOfStock naming every variant
    that is short (or no longer sold); nothing is taken then: the refusal rolls back the caller's transaction
    (no savepoint, as no caller goes on after it). `products` maps the variants to their products when the
    caller has them loaded (see `_adjust_product_stock`).
    """
    changes = _stock_changes(quantities)
    if not changes:
        return
    with transaction.atomic(savepoint=False):
        short: list[int] = []
        for variant_id, quantity in changes:
            taken = Variant.objects.filter(pk=variant_id, is_active=True, stock__gte=quantity).update(
                stock=F("stock") - quantity
            )
            if not taken:
                short.append(variant_id)
        if short:
            raise _out_of_stock(short)
        _adjust_product_stock(changes, -1, products)
    bump_catalog_version()


def _out_of_stock(variant_ids: Sequence[int]) -> OutOfStock:
    variants = Variant.objects.select_related("product").in_bulk(variant_ids)
    available: dict[int, int] = {}
    fields: dict[str, list[str]] = {}
    for variant_id in variant_ids:
        variant = variants.get(variant_id)
        left = variant.stock if variant is not None and variant.is_active and variant.product.is_active else 0
        available[variant_id] = left
        name = str(variant) if variant is not None else f"Item {variant_id}"
        fields[str(variant_id)] = [f"Only {left} left of {name}." if left else f"{name} is out of stock."]
    if len(variant_ids) == 1:
        message = next(iter(fields.values()))[0]
    else:
        message = "Some items are out of stock or have fewer units left than you asked for."
    return OutOfStock(message, available=available, fields=fields)


def release_stock(quantities: Mapping[int, int]) -> None:
    """Put units back (a cancelled or expired order); the product's derived stock follows."""
    changes = _stock_changes(quantities)
    if not changes:
        return
    with transaction.atomic():
        for variant_id, quantity in changes:
            Variant.objects.filter(pk=variant_id).update(stock=F("stock") + quantity)
        _adjust_product_stock(changes, 1)
    bump_catalog_version()
