"""Serving recommendations: a lookup of the active model version's results, merged and filtered by the rules.

Every recommendation type is a list of candidate product ids with scores, built from stored results only:

- similar (product page): the product's stored similar items (text embeddings blended with co-views);
- bought_together (product page, cart): the stored co-purchase neighbours of the product, or of the cart's items;
- for_you (home, account, cart): the customer's trained top items, fused with the neighbours of what
  they bought since the training (or ever, when they were not in it) and of what they viewed lately; an
  anonymous visitor gets the items similar to what they viewed; nobody with no history gets trending;
- trending (store-wide or per category) and recently_viewed.

Candidates then go through the merchant's rules in one pass (`select`): only active products in stock, never
what is in the cart or was just bought (unless repeatable), never excluded products or categories, boosted new
arrivals and sale items. Lookups are cached per model version and products per catalog version (which every
stock or catalog change bumps), so a warm request runs only the queries that read one shopper's own state.
"""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from patron.analytics import services as analytics
from patron.analytics.models import EventName
from patron.cart.models import Cart, CartLine
from patron.catalog import renditions
from patron.catalog.models import Product, ProductImage, Variant
from patron.catalog.services import (
    CATALOG_VERSION_KEY,
    COUNTED_ORDER_STATUSES,
    catalog_changes_made_here,
    catalog_version,
)
from patron.errors import NotFound, ValidationFailed
from patron.orders.models import Order, OrderLine, OrderStatus
from patron.recommendations.models import (
    ItemNeighbour,
    ModelVersion,
    NeighbourKind,
    RecommendationRule,
    RecommendationSettings,
    RuleKind,
    TrendingItem,
    UserRecommendation,
)
from patron.storefront.navigation import cached_category_tree


class Context(StrEnum):
    HOME = "home"
    PRODUCT = "product"
    CART = "cart"
    ACCOUNT = "account"
    CATEGORY = "category"


class Kind(StrEnum):
    FOR_YOU = "for_you"
    SIMILAR = "similar"
    BOUGHT_TOGETHER = "bought_together"
    TRENDING = "trending"
    RECENTLY_VIEWED = "recently_viewed"


# The types each page may ask for; the first is the default.
KINDS: dict[Context, tuple[Kind, ...]] = {
    Context.HOME: (Kind.FOR_YOU, Kind.TRENDING, Kind.RECENTLY_VIEWED),
    Context.ACCOUNT: (Kind.FOR_YOU, Kind.RECENTLY_VIEWED, Kind.TRENDING),
    Context.PRODUCT: (Kind.SIMILAR, Kind.BOUGHT_TOGETHER, Kind.RECENTLY_VIEWED, Kind.TRENDING),
    Context.CART: (Kind.BOUGHT_TOGETHER, Kind.FOR_YOU, Kind.TRENDING),
    Context.CATEGORY: (Kind.TRENDING,),
}
TITLES: dict[Kind, str] = {
    Kind.FOR_YOU: "Recommended for you",
    Kind.SIMILAR: "Similar items",
    Kind.BOUGHT_TOGETHER: "Frequently bought together",
    Kind.TRENDING: "Trending now",
    Kind.RECENTLY_VIEWED: "Recently viewed",
}
# Types topped up with trending (then bestsellers) when their own candidates run short after the rules.
PADDED = frozenset({Kind.FOR_YOU, Kind.TRENDING})

DEFAULT_LIMIT = 8
MAX_LIMIT = 24
MAX_ID = 2**63 - 1
MAX_CANDIDATES = 120
# Candidates read beyond the list's length at first, for boosts to reorder and the rules to leave out.
CANDIDATE_MARGIN = 6
MAX_PURCHASE_SEEDS = 5
MAX_VIEW_SEEDS = 5
HISTORY_LINES = 50
RECENTLY_VIEWED_LIMIT = 12
# Reciprocal rank fusion: a candidate scores weight / (RRF_K + rank) in each list it appears in.
RRF_K = 10
TRAINED_WEIGHT = 1.0
PURCHASE_SEED_WEIGHT = 0.8
VIEW_SEED_WEIGHT = 0.6
SEED_DECAY = 0.7
# Orders whose lines count as bought: paid or later, plus those awaiting payment (the shopper just ordered them).
HISTORY_STATUSES = (OrderStatus.PENDING_PAYMENT, *COUNTED_ORDER_STATUSES)

NO_MODEL = "fallback@0"
ACTIVE_KEY = "recs:active"
RULES_KEY = "recs:rules"
ACTIVE_CACHE_SECONDS = 60  # with a per-process cache, other workers see a new version within this time
RULES_CACHE_SECONDS = 60
LOOKUP_CACHE_SECONDS = 24 * 3600  # a version's results never change; the key names the version
CARD_CACHE_SECONDS = 600  # the key names the catalog version, which every catalog or stock change bumps
CARD_LAYOUT = 2  # named in the key too, and raised when Card's fields change, so no process reads an older layout
MEMO_SIZE = 20_000
SHARED_STATE_SECONDS = 1.0
SLUG_MARK = "slug-mark"

Ranked = list[tuple[int, float]]


# --- Inputs ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    context: Context
    kind: Kind
    product_id: int | None = None
    category: str | None = None
    limit: int = DEFAULT_LIMIT

    @property
    def slot(self) -> str:
        return f"{self.context}_{self.kind}"


@dataclass(frozen=True)
class Audience:
    """Who asks. A signed-in customer's recommendations come from their account only, never from the browser's
    visitor id (a shared computer may carry someone else's browsing); for them it only labels recorded events."""

    user_id: int | None
    visitor_id: str = ""
    session_key: str = ""
    cart_token: str | None = None
    # False for a browser seen for the first time (no visitor cookie yet): it has no views to look up.
    returning: bool = True


def _invalid(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={name: [message]})


def parse_query(
    context: str,
    *,
    kind: str | None = None,
    product_id: int | str | None = None,
    category: str | None = None,
    limit: int | str | None = None,
) -> Query:
    """Check a request's parameters (from the API or a widget's URL); bad input is a ValidationFailed."""
    try:
        ctx = Context(context)
    except ValueError:
        raise _invalid("context", f"Unknown context; use one of {', '.join(Context)}.") from None
    if kind in (None, ""):
        chosen = KINDS[ctx][0]
    else:
        allowed = KINDS[ctx]
        if kind not in allowed:
            raise _invalid("type", f"On the {ctx} context, type is one of {', '.join(allowed)}.")
        chosen = Kind(str(kind))
    product = _int_param("product_id", product_id, minimum=1, maximum=MAX_ID)
    if ctx is Context.PRODUCT and product is None:
        raise _invalid("product_id", "product_id is required on the product context.")
    if ctx is Context.CATEGORY and not category:
        raise _invalid("category", "category (a category slug) is required on the category context.")
    size = _int_param("limit", limit, minimum=1, maximum=MAX_LIMIT)
    return Query(
        ctx,
        chosen,
        product_id=product if ctx is Context.PRODUCT else None,
        category=category if ctx is Context.CATEGORY else None,
        limit=DEFAULT_LIMIT if size is None else size,
    )


def _int_param(name: str, value: int | str | None, *, minimum: int, maximum: int) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise _invalid(name, f"{name} must be a whole number.") from None
    if not minimum <= number <= maximum:
        raise _invalid(name, f"{name} must be between {minimum} and {maximum}.")
    return number


# --- Caching -------------------------------------------------------------------------------------------------------


class _Memo:
    """This process's copy of immutable entries (their keys name a model or catalog version), least recently used
    dropped first: a warm request then needs no round trip to Redis, and a small local-memory cache that evicts
    entries early costs nothing."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[str, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        found = {}
        with self.lock:
            for key in keys:
                if key in self.entries:
                    self.entries.move_to_end(key)
                    found[key] = self.entries[key]
        return found

    def set_many(self, values: Mapping[str, Any]) -> None:
        with self.lock:
            self.entries.update(values)
            for key in values:
                self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)


_memo = _Memo(MEMO_SIZE)


def _cached[K, V](keys: Mapping[K, str], load: Callable[[list[K]], Mapping[K, V]], timeout: int) -> dict[K, V]:
    """The value of each key (`keys` maps it to its cache key) from this process's memo, else the shared cache,
    else `load(missing keys)`; what a level lacked is stored there. A local-memory cache is skipped: it would
    only be a second, slower copy of the memo."""
    found = _memo.get_many(keys.values())
    result = {key: found[name] for key, name in keys.items() if name in found}
    missing = [key for key in keys if key not in result]
    if not missing:
        return result
    shared_cache = not isinstance(caches["default"], LocMemCache)
    shared = cache.get_many([keys[key] for key in missing]) if shared_cache else {}
    fetched = {key: shared[keys[key]] for key in missing if keys[key] in shared}
    unknown = [key for key in missing if key not in fetched]
    if unknown:
        loaded = dict(load(unknown))
        if shared_cache:
            cache.set_many({keys[key]: value for key, value in loaded.items()}, timeout)
        fetched.update(loaded)
    _memo.set_many({keys[key]: value for key, value in fetched.items()})
    result.update(fetched)
    return result


# --- Products as widgets show them -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Card:
    """What a widget or the API shows of a product, and what the rules need to know about it."""

    id: int
    name: str
    slug: str
    url: str
    brand: str
    category_path: str
    price: Decimal
    compare_at: Decimal | None
    is_range: bool
    image_url: str
    image_srcset: str
    image_width: int | None
    image_height: int | None
    created_at: datetime
    on_sale: bool
    active: bool  # sold in the store (its page exists), whatever its stock
    available: bool  # active and in stock

    @property
    def category_id(self) -> int:
        return int(self.category_path.rstrip("/").rsplit("/", 1)[-1])


@functools.cache
def _product_url() -> str:
    """The product page's URL with `{}` for the slug: resolving a URL costs more than building a whole card."""
    return reverse("storefront:product", args=[SLUG_MARK]).replace(SLUG_MARK, "{}")


def _load_cards(product_ids: Sequence[int]) -> dict[int, Card]:
    """Cards from three plain queries (products, their active variants, their first images): no model objects,
    since a request may need a few dozen products that the cache lost at the last catalog change."""
    products = Product.objects.filter(pk__in=product_ids).values_list(
        "pk", "name", "slug", "brand", "category__path", "min_price", "created_at", "is_active", "archived_at",
        "total_stock",
    )  # fmt: skip
    variants: dict[int, list[tuple[Decimal, Decimal | None]]] = {}
    active_variants = Variant.objects.filter(product_id__in=product_ids, is_active=True)
    for product_id, price, compare_at in active_variants.order_by("product_id", "position", "id").values_list(
        "product_id", "price", "compare_at_price"
    ):
        variants.setdefault(product_id, []).append((price, compare_at))
    images: dict[int, tuple[str, int | None, int | None, dict[str, Any]]] = {}
    pictures = ProductImage.objects.filter(product_id__in=product_ids).order_by("product_id", "position", "id")
    for product_id, name, width, height, recorded in pictures.values_list(
        "product_id", "image", "width", "height", "renditions"
    ):
        images.setdefault(product_id, (name, width, height, recorded))
    storage = ProductImage._meta.get_field("image").storage
    url_of = _product_url().format
    found = {}
    for pk, name, slug, brand, path, min_price, created_at, is_active, archived_at, stock in products:
        prices = variants.get(pk, [])
        # As the storefront's cards show it: the cheapest variant (the first of equals), and "from" over a range.
        price, compare_at = min(prices, key=lambda pair: pair[0]) if prices else (min_price, None)
        image_name, width, height, recorded = images.get(pk, ("", None, None, {}))
        active = is_active and archived_at is None
        found[pk] = Card(
            id=pk,
            name=name,
            slug=slug,
            url=url_of(slug),
            brand=brand,
            category_path=path,
            price=price,
            compare_at=compare_at if compare_at is not None and compare_at > price else None,
            is_range=any(other != price for other, _ in prices),
            image_url=storage.url(image_name) if image_name else "",
            image_srcset=renditions.srcset(image_name, width, recorded),
            image_width=width,
            image_height=height,
            created_at=created_at,
            on_sale=any(was is not None and was > current for current, was in prices),
            active=active,
            available=active and stock > 0,
        )
    return found


def cards(product_ids: Iterable[int], *, catalog: int | None = None) -> dict[int, Card]:
    """Cards of the products that exist, from the caches or in three queries; `catalog` is the catalog version
    when the caller has read it already."""
    ids = list(dict.fromkeys(product_ids))
    if not ids:
        return {}
    prefix = f"recs:card{CARD_LAYOUT}:{catalog if catalog is not None else catalog_version()}:"

    def load(missing: list[int]) -> dict[int, Card | None]:
        # Unknown ids are kept too (as None), so a stale id costs no query until the catalog changes.
        loaded: dict[int, Card | None] = dict.fromkeys(missing)
        loaded.update(_load_cards(missing))
        return loaded

    found = _cached({pid: f"{prefix}{pid}" for pid in ids}, load, CARD_CACHE_SECONDS)
    return {pid: card for pid, card in found.items() if card is not None}


# --- Merchant rules ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rules:
    new_arrival_days: int = 30
    new_arrival_boost: float = 0.0
    on_sale_boost: float = 0.0
    just_bought_days: int = 60
    repeatable_products: frozenset[int] = frozenset()
    repeatable_categories: tuple[str, ...] = ()  # category paths: a path prefix is a subtree
    excluded_products: frozenset[int] = frozenset()
    excluded_categories: tuple[str, ...] = ()

    def is_repeatable(self, card: Card) -> bool:
        return card.id in self.repeatable_products or card.category_path.startswith(self.repeatable_categories)

    def is_excluded(self, card: Card) -> bool:
        return card.id in self.excluded_products or card.category_path.startswith(self.excluded_categories)

    def boost(self, card: Card, now: datetime) -> float:
        extra = 0.0
        if self.new_arrival_boost and card.created_at >= now - timedelta(days=self.new_arrival_days):
            extra += self.new_arrival_boost
        if self.on_sale_boost and card.on_sale:
            extra += self.on_sale_boost
        return extra


def _rules(cached: Rules | None) -> Rules:
    """The rules as cached, else the settings and rules in two queries (cached until a rule changes)."""
    if cached is not None:
        return cached
    stored = RecommendationSettings.objects.filter(pk=1).first() or RecommendationSettings()
    products: dict[str, set[int]] = {RuleKind.REPEATABLE: set(), RuleKind.EXCLUDE: set()}
    paths: dict[str, list[str]] = {RuleKind.REPEATABLE: [], RuleKind.EXCLUDE: []}
    for rule in RecommendationRule.objects.select_related("category").only("kind", "product_id", "category__path"):
        if rule.product_id is not None:
            products[rule.kind].add(rule.product_id)
        elif rule.category is not None:
            paths[rule.kind].append(rule.category.path)
    rules = Rules(
        new_arrival_days=stored.new_arrival_days,
        new_arrival_boost=stored.new_arrival_boost,
        on_sale_boost=stored.on_sale_boost,
        just_bought_days=stored.just_bought_days,
        repeatable_products=frozenset(products[RuleKind.REPEATABLE]),
        repeatable_categories=tuple(paths[RuleKind.REPEATABLE]),
        excluded_products=frozenset(products[RuleKind.EXCLUDE]),
        excluded_categories=tuple(paths[RuleKind.EXCLUDE]),
    )
    cache.set(RULES_KEY, rules, RULES_CACHE_SECONDS)
    return rules


def forget_rules() -> None:
    """Called when a rule or the settings change; again after commit, in case a reader cached the old ones."""
    _forget_rules()
    transaction.on_commit(_forget_rules)


def _forget_rules() -> None:
    cache.delete(RULES_KEY)
    forget_shared_state()


@dataclass(frozen=True)
class Item:
    card: Card
    score: float


def select(
    ranked: Sequence[tuple[int, float]],
    products: Mapping[int, Card],
    rules: Rules,
    *,
    exclude: Iterable[int] = (),
    just_bought: Iterable[int] = (),
    limit: int,
    now: datetime | None = None,
) -> list[Item]:
    """The best `limit` candidates that the rules allow, boosts applied (ties keep the candidates' order)."""
    now = now or timezone.now()
    excluded, bought = set(exclude), set(just_bought)
    allowed = []
    for product_id, score in ranked:
        card = products.get(product_id)
        if card is None or not card.available or product_id in excluded or rules.is_excluded(card):
            continue
        if product_id in bought and not rules.is_repeatable(card):
            continue
        excluded.add(product_id)
        allowed.append(Item(card, score * (1.0 + rules.boost(card, now))))
    allowed.sort(key=lambda item: -item.score)
    return allowed[:limit]


def fuse(lists: Iterable[tuple[Sequence[int], float]], *, limit: int = MAX_CANDIDATES) -> Ranked:
    """Reciprocal rank fusion of ranked id lists, each with a weight; the best first."""
    scores: dict[int, float] = {}
    for ids, weight in lists:
        for rank, product_id in enumerate(ids):
            scores[product_id] = scores.get(product_id, 0.0) + weight / (RRF_K + rank + 1)
    return sorted(scores.items(), key=lambda pair: -pair[1])[:limit]


# --- Stored results of the active version ----------------------------------------------------------------------


@dataclass(frozen=True)
class ActiveModel:
    id: int
    label: str
    version: int
    started_at: datetime

    @property
    def key(self) -> str:
        """Names the version in cache keys; the start time tells apart versions that reuse an id (a restored or
        test database)."""
        return f"{self.id}.{int(self.started_at.timestamp() * 1_000_000)}"


def _active_model(found: ActiveModel | str | None) -> ActiveModel | None:
    """The active version as cached ("none" when there is none), else from the database."""
    if found is None:
        version = ModelVersion.objects.filter(is_active=True).first()
        found = ActiveModel(version.pk, version.label, version.version, version.started_at) if version else "none"
        cache.set(ACTIVE_KEY, found, ACTIVE_CACHE_SECONDS)
    return found if isinstance(found, ActiveModel) else None


def forget_active_model() -> None:
    cache.delete(ACTIVE_KEY)
    forget_shared_state()


Key = tuple[Any, ...]


def _lookup(
    model: ActiveModel, keys: Sequence[Key], load: Callable[[list[Key]], Mapping[Key, list[int]]], name: str
) -> dict[Key, list[int]]:
    """A version's stored lists: `load(missing keys)` reads {key: ids} from the database (absent keys: none)."""
    if not keys:
        return {}

    def load_all(missing: list[Key]) -> dict[Key, list[int]]:
        loaded: dict[Key, list[int]] = {key: [] for key in missing}
        loaded.update(load(missing))
        return loaded

    names = {key: f"recs:{model.key}:{name}:{':'.join(map(str, key))}" for key in keys}
    return _cached(names, load_all, LOOKUP_CACHE_SECONDS)


def neighbours(model: ActiveModel, kind: NeighbourKind, product_ids: Sequence[int]) -> dict[int, list[int]]:
    """Each product's stored neighbours of one kind, best first (one query for those not cached)."""

    def load(missing: list[tuple[int, ...]]) -> dict[tuple[int, ...], list[int]]:
        rows = ItemNeighbour.objects.filter(
            model_version_id=model.id, kind=kind, product_id__in=[key[0] for key in missing]
        ).order_by("product_id", "rank")
        grouped: dict[tuple[int, ...], list[int]] = {}
        for product_id, neighbour_id in rows.values_list("product_id", "neighbour_id"):
            grouped.setdefault((product_id,), []).append(neighbour_id)
        return grouped

    found = _lookup(model, [(pid,) for pid in product_ids], load, f"n{int(kind)}")
    return {key[0]: ids for key, ids in found.items()}


def user_top_items(model: ActiveModel, user_id: int) -> list[int] | None:
    """The customer's trained recommendations, or None when they had no purchases at training time."""

    def load(missing: list[tuple[int, ...]]) -> dict[tuple[int, ...], list[int]]:
        rows = UserRecommendation.objects.filter(model_version_id=model.id, user_id=user_id).order_by("rank")
        return {(user_id,): list(rows.values_list("product_id", flat=True))}

    ids = _lookup(model, [(user_id,)], load, "user")[(user_id,)]
    return ids or None


def trending(model: ActiveModel | None, category_id: int | None = None) -> list[int]:
    """Trending products of a category (store-wide without one, or when the category has none); the catalog's
    bestsellers when no model has been trained yet."""
    if model is None:
        return bestsellers()

    def load(missing: list[tuple[int, ...]]) -> dict[tuple[int, ...], list[int]]:
        rows = TrendingItem.objects.filter(model_version_id=model.id).order_by("category_id", "rank")
        rows = rows.filter(category_id__isnull=True) if category_id is None else rows.filter(category_id=category_id)
        return {(category_id or 0,): list(rows.values_list("product_id", flat=True))}

    ids = _lookup(model, [(category_id or 0,)], load, "trend")[(category_id or 0,)]
    if not ids and category_id is not None:
        return trending(model, None)
    return ids


def bestsellers() -> list[int]:
    key = f"recs:bestsellers:{catalog_version()}"
    ids: list[int] | None = cache.get(key)
    if ids is None:
        available = Product.objects.filter(is_active=True, archived_at__isnull=True, total_stock__gt=0)
        ranked = available.order_by("-sales_count", "-created_at", "-id")
        ids = list(ranked.values_list("pk", flat=True)[:MAX_CANDIDATES])
        cache.set(key, ids, CARD_CACHE_SECONDS)
    return ids


# --- One shopper's own state (never cached: it is theirs and changes with every click) -------------------------


@dataclass(frozen=True)
class History:
    purchases: tuple[tuple[int, datetime], ...] = ()  # (product id, when), newest first, one per product
    cart: tuple[int, ...] = ()  # product ids, the latest added first
    viewed: tuple[int, ...] = ()  # product ids, the latest viewed first (read only when the list needs them)

    def bought_since(self, moment: datetime) -> list[int]:
        return [product_id for product_id, at in self.purchases if at >= moment]

    def just_bought(self, days: int) -> set[int]:
        return set(self.bought_since(timezone.now() - timedelta(days=days)))


BOUGHT, IN_CART, VIEWED = 0, 1, 2


@functools.cache
def _history_sql() -> dict[str, str]:
    """The parts of the shopper-state statement, with this installation's table names."""
    line, order = OrderLine._meta.db_table, Order._meta.db_table
    cart_line, cart, variant = CartLine._meta.db_table, Cart._meta.db_table, Variant._meta.db_table
    statuses = ", ".join(["%s"] * len(HISTORY_STATUSES))
    # Only our own table names and constants go into the text; the shopper's values are parameters.
    return {
        "bought": (
            f"SELECT {BOUGHT}, l.product_id, o.placed_at FROM {line} l JOIN {order} o ON o.id = l.order_id "  # noqa: S608
            f"WHERE o.user_id = %s AND o.status IN ({statuses}) ORDER BY o.placed_at DESC LIMIT {HISTORY_LINES}"
        ),
        "cart": (
            f"SELECT {IN_CART}, v.product_id, l.added_at FROM {cart_line} l JOIN {cart} c ON c.id = l.cart_id "  # noqa: S608
            f"JOIN {variant} v ON v.id = l.variant_id WHERE "
        ),
    }


def history(audience: Audience, *, views: bool = False) -> History:
    """What the shopper bought (signed-in customers only), has in their cart and, with `views`, viewed lately, in
    one statement (none for a new visitor with no cart).

    The statement is written out rather than built by the ORM: every personal request runs it, and building three
    querysets cost several times running them.
    """
    parts: list[str] = []
    params: list[Any] = []
    sql = _history_sql()
    if audience.user_id is not None:
        parts.append(sql["bought"])
        params += [audience.user_id, *HISTORY_STATUSES]
        parts.append(sql["cart"] + "c.user_id = %s")
        params.append(audience.user_id)
    elif audience.cart_token:
        parts.append(sql["cart"] + "c.token = %s AND c.user_id IS NULL")
        params.append(audience.cart_token)
    viewer = {"user_id": audience.user_id} if audience.user_id is not None else {"visitor_id": audience.visitor_id}
    if views and (audience.user_id is not None or (audience.visitor_id and audience.returning)):
        viewed_sql, viewed_params = analytics.latest_views_sql(**viewer, limit=RECENTLY_VIEWED_LIMIT)
        parts.append(f"SELECT {VIEWED}, viewed.* FROM ({viewed_sql}) AS viewed")  # noqa: S608 (see _history_sql)
        params += viewed_params
    if not parts:
        return History()
    # Each part keeps its own ORDER BY and LIMIT inside a subquery; the rows come back grouped by part.
    union = " UNION ALL ".join(f"SELECT * FROM ({part}) AS p{number}" for number, part in enumerate(parts))  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(f"{union} ORDER BY 1, 3 DESC, 2 DESC", params)
        rows = cursor.fetchall()
    found: dict[int, dict[int, datetime]] = {BOUGHT: {}, IN_CART: {}, VIEWED: {}}
    for part, product_id, at in rows:
        found[part].setdefault(product_id, at)
    return History(
        purchases=tuple((product_id, _aware(at)) for product_id, at in found[BOUGHT].items()),
        cart=tuple(found[IN_CART]),
        viewed=tuple(found[VIEWED]),
    )


def _aware(value: datetime | str) -> datetime:
    """A timestamp as the ORM would give it: SQLite hands raw statements back text in UTC."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


# --- What every request reads first -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SharedState:
    model: ActiveModel | None
    rules: Rules
    catalog: int
    read_at: float
    catalog_changes: int  # this process's catalog changes when it was read


_shared_state: SharedState | None = None


def shared_state() -> SharedState:
    """The active model, the rules and the catalog version, in one round trip to the cache, kept by this process
    for SHARED_STATE_SECONDS: another worker's new model, rule or stock change reaches this one's recommendations
    within that time, and this process's own changes at once."""
    global _shared_state
    state, now, changes = _shared_state, time.monotonic(), catalog_changes_made_here()
    if state is not None and now - state.read_at < SHARED_STATE_SECONDS and state.catalog_changes == changes:
        return state
    shared = cache.get_many([ACTIVE_KEY, RULES_KEY, CATALOG_VERSION_KEY])
    state = SharedState(
        model=_active_model(shared.get(ACTIVE_KEY)),
        rules=_rules(shared.get(RULES_KEY)),
        catalog=shared.get(CATALOG_VERSION_KEY) or catalog_version(),
        read_at=now,
        catalog_changes=changes,
    )
    _shared_state = state
    return state


def forget_shared_state() -> None:
    global _shared_state
    _shared_state = None


# --- Serving ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recommendations:
    recommendation_id: str
    query: Query
    model: str
    version: int | None
    strategy: str
    items: list[Item] = field(default_factory=list)

    @property
    def slot(self) -> str:
        return self.query.slot

    @property
    def title(self) -> str:
        return TITLES[self.query.kind]


@dataclass
class _Plan:
    """The candidates of one request, and what may top them up when the rules leave too few."""

    strategy: str
    ranked: Ranked
    padding: list[int] = field(default_factory=list)


def _seed_lists(
    model: ActiveModel, seeds: Sequence[int], kinds: Sequence[NeighbourKind], weight: float
) -> list[tuple[list[int], float]]:
    """The neighbour lists of seed products (the first seed weighs most), ready for `fuse`."""
    lists: list[tuple[list[int], float]] = []
    for kind in kinds:
        found = neighbours(model, kind, seeds)
        lists += [(found.get(seed, []), weight * SEED_DECAY**position) for position, seed in enumerate(seeds)]
    return lists


def _for_you(model: ActiveModel | None, audience: Audience, past: History) -> _Plan:
    if model is None:
        return _Plan("trending", [], padding=trending(None))
    viewed = list(past.viewed[:MAX_VIEW_SEEDS])
    top = user_top_items(model, audience.user_id) if audience.user_id is not None else None
    # A customer in the training needs only what they bought since; anyone else, their whole recent history.
    bought = past.bought_since(model.started_at) if top else [pid for pid, _ in past.purchases]
    lists = [(top, TRAINED_WEIGHT)] if top else []
    both = (NeighbourKind.BOUGHT_TOGETHER, NeighbourKind.SIMILAR)
    lists += _seed_lists(model, bought[:MAX_PURCHASE_SEEDS], both, PURCHASE_SEED_WEIGHT)
    lists += _seed_lists(model, viewed, (NeighbourKind.SIMILAR,), VIEW_SEED_WEIGHT)
    ranked = fuse(lists)
    strategy = "personalized" if top else "history" if ranked else "trending"
    return _Plan(strategy, ranked, padding=trending(model))


def _plan(query: Query, model: ActiveModel | None, audience: Audience, past: History, catalog: int) -> _Plan:
    kind, product_id = query.kind, query.product_id
    if kind is Kind.FOR_YOU:
        return _for_you(model, audience, past)
    if kind is Kind.RECENTLY_VIEWED:
        return _Plan("recently_viewed", fuse([(past.viewed, 1.0)]))
    if kind is Kind.TRENDING:
        return _Plan("trending", [], padding=trending(model, _category_id(query, catalog)))
    if model is None:
        return _Plan("untrained", [])
    seeds = [product_id] if product_id is not None else list(past.cart[:MAX_PURCHASE_SEEDS])
    which = NeighbourKind.SIMILAR if kind is Kind.SIMILAR else NeighbourKind.BOUGHT_TOGETHER
    return _Plan(kind.value, fuse(_seed_lists(model, seeds, (which,), 1.0)))


def _category_id(query: Query, catalog: int) -> int | None:
    """The category whose trending products to show: the page's, or its product's."""
    if query.category is not None:
        found = _category_ids(catalog).get(query.category)
        if found is None:
            raise NotFound("No such category.")
        return found
    if query.product_id is not None:
        product = cards([query.product_id], catalog=catalog).get(query.product_id)
        return product.category_id if product else None
    return None


def _category_ids(catalog: int) -> dict[str, int]:
    """Category ids by slug, kept like the cards for as long as the catalog version lasts."""
    key = f"recs:categories:{catalog}"

    def load(missing: list[str]) -> dict[str, dict[str, int]]:
        return {key: {category.slug: category.pk for category in cached_category_tree()}}

    return _cached({key: key}, load, CARD_CACHE_SECONDS)[key]


def recommend(query: Query, audience: Audience, *, record_shown: bool = True) -> Recommendations:
    """Serve one widget or API call, and record that it was shown (`recommendation_shown`) when not empty.

    Widgets pass `record_shown=False`: the page's script reports them once they are in view, with the same
    recommendation id, so a widget is counted once and only when seen.
    """
    state = shared_state()
    model, rules, catalog = state.model, state.rules, state.catalog
    past = history(audience, views=query.kind in (Kind.FOR_YOU, Kind.RECENTLY_VIEWED))
    plan = _plan(query, model, audience, past, catalog)
    page = [query.product_id] if query.product_id is not None else []
    # The page's product is read with the first candidates, in one batch.
    first = [*page, *(pid for pid, _ in plan.ranked[: query.limit + CANDIDATE_MARGIN])]
    products = cards(first, catalog=catalog)
    if page and not (page[0] in products and products[page[0]].active):
        raise NotFound("No such product.")
    exclude = set(past.cart) | set(page)
    just_bought = past.just_bought(rules.just_bought_days)
    now = timezone.now()

    def pick(ranked: Ranked, limit: int) -> list[Item]:
        """The best `limit` allowed candidates. Cards are read for the top few first (boosts reorder those), and
        for the rest only when the rules leave too few of them."""
        for window in (ranked[: limit + CANDIDATE_MARGIN], ranked):
            products.update(cards((pid for pid, _ in window if pid not in products), catalog=catalog))
            chosen = select(window, products, rules, exclude=exclude, just_bought=just_bought, limit=limit, now=now)
            if len(chosen) == limit or len(window) == len(ranked):
                break
        return chosen

    items = pick(plan.ranked, query.limit) if plan.ranked else []
    strategy = plan.strategy
    if query.kind in PADDED:
        # Topping up comes after the shopper's own candidates whatever its boosts: it is the weaker signal.
        fallbacks = (("trending" if model else "bestsellers", lambda: plan.padding), ("bestsellers", bestsellers))
        for source, candidates in fallbacks:
            if len(items) >= query.limit:
                break
            exclude.update(item.card.id for item in items)
            found = pick(fuse([(candidates()[:MAX_CANDIDATES], 1.0)]), query.limit - len(items))
            if found and not items:
                strategy = source
            items += found
    result = Recommendations(
        recommendation_id=str(uuid.uuid4()),
        query=query,
        model=model.label if model else NO_MODEL,
        version=model.version if model else None,
        strategy=strategy,
        items=items,
    )
    if items and record_shown:
        analytics.track(
            EventName.RECOMMENDATION_SHOWN,
            user_id=audience.user_id,
            visitor_id=audience.visitor_id,
            session_key=audience.session_key,
            payload={
                "recommendation_id": result.recommendation_id,
                "slot": result.slot,
                "model": result.model,
                "strategy": strategy,
                "product_ids": [item.card.id for item in items],
            },
        )
    return result
