"""Serving recommendations from stored results: cold start, personal history, the merchant's rules, isolation
between shoppers, recording what was shown, and a bounded number of queries.

The stored results are written directly here (`stored_version`), so these tests pin the serving side down
whatever the engine computes; tests/integration/test_recommendations_training.py covers training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone

from patron.accounts.models import User
from patron.accounts.testing import make_user
from patron.analytics import buffer
from patron.analytics import services as analytics
from patron.analytics.models import Event, EventName
from patron.cart import services as cart_services
from patron.catalog.models import Category, Product, Variant
from patron.catalog.services import CATALOG_VERSION_KEY, bump_catalog_version
from patron.errors import NotFound
from patron.orders.models import Order
from patron.recommendations import services
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
from patron.recommendations.services import Audience, parse_query, recommend
from tests.factories import make_category, make_product
from tests.order_factories import make_order

pytestmark = pytest.mark.django_db

ANONYMOUS = Audience(user_id=None, visitor_id="visitor-a")


# --- Helpers shared by the recommendation test modules --------------------------------------------------------------


def bought(
    *products: Product, user: User | None = None, email: str = "", days_ago: float = 1, status: str = "delivered"
) -> Order:
    """An order of one unit of each product, placed `days_ago` and moved to `status`."""
    order = make_order(
        [(product.variants.all()[0], 1) for product in products],
        user=user,
        email=email,
        placed_at=timezone.now() - timedelta(days=days_ago),
    )
    Order.objects.filter(pk=order.pk).update(status=status)
    return order


def viewed(product: Product, *, user: User | None = None, visitor: str = "", days_ago: float = 0) -> None:
    """A stored product view, the way the analytics script's report ends up."""
    at = timezone.now() - timedelta(days=days_ago)
    analytics.track(
        EventName.PRODUCT_VIEWED,
        user_id=user.pk if user else None,
        visitor_id=visitor,
        payload={"product_id": product.pk},
        at=at,
    )
    buffer.flush()


def stored_version(
    *,
    similar: Mapping[int, Sequence[int]] | None = None,
    bought_together: Mapping[int, Sequence[int]] | None = None,
    users: Mapping[int, Sequence[int]] | None = None,
    trending: Mapping[int | None, Sequence[int]] | None = None,
    name: str = "ease",
) -> ModelVersion:
    """An active version holding exactly these results (product and user ids, best first)."""
    number = ModelVersion.objects.count() + 1
    ModelVersion.objects.filter(is_active=True).update(is_active=False)
    version = ModelVersion.objects.create(
        name=name, version=number, status=ModelVersion.Status.READY, is_active=True, trained_at=timezone.now()
    )
    for kind, lists in ((NeighbourKind.SIMILAR, similar), (NeighbourKind.BOUGHT_TOGETHER, bought_together)):
        ItemNeighbour.objects.bulk_create(
            ItemNeighbour(
                model_version=version, kind=kind, product_id=pid, rank=rank, neighbour_id=other, score=1 / (rank + 1)
            )
            for pid, others in (lists or {}).items()
            for rank, other in enumerate(others)
        )
    UserRecommendation.objects.bulk_create(
        UserRecommendation(model_version=version, user_id=uid, rank=rank, product_id=pid, score=1 / (rank + 1))
        for uid, pids in (users or {}).items()
        for rank, pid in enumerate(pids)
    )
    TrendingItem.objects.bulk_create(
        TrendingItem(model_version=version, category_id=cid, rank=rank, product_id=pid, score=1 / (rank + 1))
        for cid, pids in (trending or {}).items()
        for rank, pid in enumerate(pids)
    )
    services.forget_active_model()
    return version


def product_ids(result: services.Recommendations) -> list[int]:
    return [item.card.id for item in result.items]


def ask(context: str, audience: Audience = ANONYMOUS, **params: Any) -> services.Recommendations:
    return recommend(parse_query(context, **params), audience)


# --- Fixtures ----------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _empty_event_buffer() -> None:
    buffer.discard()


@pytest.fixture
def kitchen() -> Category:
    return make_category("Kitchen")


@pytest.fixture
def garden() -> Category:
    return make_category("Garden")


@pytest.fixture
def items(kitchen: Category, garden: Category) -> dict[str, Product]:
    """Ten products: eight in the kitchen, two in the garden."""
    names = ["kettle", "teapot", "mug", "grinder", "beans", "filter", "scale", "tray"]
    shop = {name: make_product(name.capitalize(), category=kitchen) for name in names}
    shop.update({name: make_product(name.capitalize(), category=garden) for name in ("hose", "shears")})
    return shop


def pk(items: dict[str, Product], *names: str) -> list[int]:
    return [items[name].pk for name in names]


# --- Cold start and history ----------------------------------------------------------------------------------------


def test_before_any_training_everyone_gets_the_bestsellers(items: dict[str, Product]) -> None:
    Product.objects.filter(pk=items["mug"].pk).update(sales_count=50)
    Product.objects.filter(pk=items["hose"].pk).update(sales_count=20)
    result = ask("home", limit=3)
    assert result.model == "fallback@0" and result.version is None
    assert result.strategy == "bestsellers"
    assert product_ids(result)[:2] == pk(items, "mug", "hose")
    assert ask("product", kind="similar", product_id=items["mug"].pk).items == []


def test_a_new_visitor_gets_trending_and_the_model_that_served_it(items: dict[str, Product]) -> None:
    version = stored_version(trending={None: pk(items, "teapot", "hose", "beans")})
    result = ask("home")
    assert result.strategy == "trending"
    assert result.model == version.label == f"ease@{version.version}"
    # Too few trending products: the store's bestsellers top the list up, after them.
    assert product_ids(result)[:3] == pk(items, "teapot", "hose", "beans")
    assert len(result.items) == services.DEFAULT_LIMIT


def test_a_visitor_who_viewed_products_gets_what_is_similar_to_them(items: dict[str, Product]) -> None:
    stored_version(similar={items["kettle"].pk: pk(items, "teapot", "mug")}, trending={None: pk(items, "hose")})
    viewed(items["kettle"], visitor="visitor-a")
    result = ask("home", limit=3)
    assert result.strategy == "history"
    assert product_ids(result) == pk(items, "teapot", "mug", "hose")
    other_visitor = ask("home", Audience(user_id=None, visitor_id="visitor-b"), limit=3)
    assert other_visitor.strategy == "trending"


def test_a_trained_customer_gets_their_list_and_what_goes_with_a_purchase_made_since(
    items: dict[str, Product],
) -> None:
    ada = make_user("ada@example.com")
    bought(items["grinder"], user=ada, days_ago=30)
    version = stored_version(
        users={ada.pk: pk(items, "beans", "filter")},
        bought_together={items["kettle"].pk: pk(items, "teapot")},
        trending={None: pk(items, "hose")},
    )
    audience = Audience(user_id=ada.pk)
    assert product_ids(ask("home", audience, limit=2)) == pk(items, "beans", "filter")
    assert ask("home", audience).strategy == "personalized"
    ModelVersion.objects.filter(pk=version.pk).update(started_at=timezone.now() - timedelta(days=2))
    services.forget_active_model()
    bought(items["kettle"], user=ada, days_ago=1)
    assert set(product_ids(ask("home", audience, limit=3))) == set(pk(items, "beans", "filter", "teapot"))


def test_a_customer_missing_from_the_training_gets_what_goes_with_their_purchases(items: dict[str, Product]) -> None:
    bea = make_user("bea@example.com")
    stored_version(
        bought_together={items["kettle"].pk: pk(items, "teapot", "mug")},
        similar={items["kettle"].pk: pk(items, "scale")},
    )
    bought(items["kettle"], user=bea)
    result = ask("account", Audience(user_id=bea.pk), limit=3)
    assert result.strategy == "history"
    assert product_ids(result)[:3] == pk(items, "teapot", "scale", "mug")
    assert items["kettle"].pk not in product_ids(ask("account", Audience(user_id=bea.pk), limit=20))


def test_one_customers_purchases_and_views_never_show_in_anothers_recommendations(
    items: dict[str, Product],
) -> None:
    ada, bea = make_user("ada@example.com"), make_user("bea@example.com")
    stored_version(
        similar={items["hose"].pk: pk(items, "shears")},
        bought_together={items["hose"].pk: pk(items, "shears")},
        users={ada.pk: pk(items, "mug")},
        trending={None: pk(items, "kettle", "teapot", "mug")},
    )
    for_bea = product_ids(ask("home", Audience(user_id=bea.pk), limit=4))
    # Ada buys and browses garden things; her browser also had a visitor id before she signed in.
    bought(items["hose"], user=ada)
    viewed(items["hose"], user=ada, visitor="visitor-of-ada")
    for_ada = product_ids(ask("home", Audience(user_id=ada.pk), limit=4))
    assert items["shears"].pk in for_ada
    again_for_bea = ask("home", Audience(user_id=bea.pk), limit=4)
    assert product_ids(again_for_bea) == for_bea
    assert again_for_bea.strategy == "trending"
    # Bea signs in on the computer Ada browsed on: its visitor id does not bring Ada's views along.
    assert product_ids(ask("home", Audience(user_id=bea.pk, visitor_id="visitor-of-ada"), limit=4)) == for_bea
    assert items["shears"].pk not in product_ids(ask("home", Audience(user_id=None, visitor_id="another"), limit=3))


# --- Pages -------------------------------------------------------------------------------------------------------


def test_product_page_lists_and_unknown_products(items: dict[str, Product]) -> None:
    stored_version(
        similar={items["kettle"].pk: pk(items, "teapot", "mug")},
        bought_together={items["kettle"].pk: pk(items, "mug", "kettle")},
    )
    similar = ask("product", product_id=items["kettle"].pk)
    assert (similar.strategy, product_ids(similar)) == ("similar", pk(items, "teapot", "mug"))
    together = ask("product", kind="bought_together", product_id=items["kettle"].pk)
    # The page's own product is never recommended on its page.
    assert product_ids(together) == pk(items, "mug")
    assert ask("product", product_id=items["teapot"].pk).items == []
    with pytest.raises(NotFound):
        ask("product", product_id=999_999)
    Product.objects.filter(pk=items["kettle"].pk).update(is_active=False)
    bump_catalog_version()
    with pytest.raises(NotFound):
        ask("product", product_id=items["kettle"].pk, kind="similar")


def test_cart_gets_what_is_bought_with_its_items(items: dict[str, Product]) -> None:
    stored_version(
        bought_together={items["kettle"].pk: pk(items, "teapot", "mug"), items["beans"].pk: pk(items, "grinder")}
    )
    cart = cart_services.get_cart(user=None, token=None, create=True)
    assert cart is not None
    cart_services.add_item(cart, items["kettle"].variants.get().pk, 1)
    cart_services.add_item(cart, items["beans"].variants.get().pk, 1)
    cart_services.add_item(cart, items["mug"].variants.get().pk, 1)
    result = ask("cart", Audience(user_id=None, visitor_id="v", cart_token=cart.token))
    assert result.strategy == "bought_together"
    assert set(product_ids(result)) == set(pk(items, "teapot", "grinder"))
    assert ask("cart").items == []


def test_category_page_gets_trending_in_its_subtree(items: dict[str, Product], kitchen: Category) -> None:
    stored_version(trending={kitchen.pk: pk(items, "scale", "tray"), None: pk(items, "hose")})
    result = ask("category", category=kitchen.slug, limit=2)
    assert product_ids(result) == pk(items, "scale", "tray")
    with pytest.raises(NotFound):
        ask("category", category="no-such-category")


# --- The merchant's rules, configured in the back-office --------------------------------------------------------------


def test_out_of_stock_and_inactive_products_are_never_recommended(items: dict[str, Product]) -> None:
    stored_version(similar={items["kettle"].pk: pk(items, "teapot", "mug", "beans")})
    Variant.objects.filter(product=items["teapot"]).update(stock=0)
    Product.objects.filter(pk=items["teapot"].pk).update(total_stock=0)
    Product.objects.filter(pk=items["mug"].pk).update(is_active=False)
    bump_catalog_version()
    assert product_ids(ask("product", product_id=items["kettle"].pk)) == pk(items, "beans")


def test_items_in_the_customers_cart_are_not_recommended(items: dict[str, Product]) -> None:
    ada = make_user("ada@example.com")
    stored_version(users={ada.pk: pk(items, "teapot", "mug", "beans")})
    cart = cart_services.get_cart(user=ada, token=None, create=True)
    assert cart is not None
    cart_services.add_item(cart, items["mug"].variants.get().pk, 1)
    result = product_ids(ask("home", Audience(user_id=ada.pk), limit=10))
    assert result[:2] == pk(items, "teapot", "beans")
    assert items["mug"].pk not in result


def test_just_bought_is_left_out_but_repeatable_products_and_categories_come_back(
    items: dict[str, Product], kitchen: Category
) -> None:
    ada = make_user("ada@example.com")
    stored_version(similar={items["kettle"].pk: pk(items, "beans", "filter", "hose")})
    audience = Audience(user_id=ada.pk)
    bought(items["beans"], items["filter"], user=ada, days_ago=3)
    bought(items["hose"], user=ada, days_ago=200)
    # Bought long ago counts as bought no more.
    assert product_ids(ask("product", audience, product_id=items["kettle"].pk)) == pk(items, "hose")
    RecommendationRule.objects.create(kind=RuleKind.REPEATABLE, product=items["beans"])
    assert product_ids(ask("product", audience, product_id=items["kettle"].pk)) == pk(items, "beans", "hose")
    RecommendationRule.objects.create(kind=RuleKind.REPEATABLE, category=kitchen)
    assert product_ids(ask("product", audience, product_id=items["kettle"].pk)) == pk(items, "beans", "filter", "hose")
    settings = RecommendationSettings.objects.create(just_bought_days=365)
    RecommendationRule.objects.filter(category=kitchen).delete()
    assert product_ids(ask("product", audience, product_id=items["kettle"].pk)) == pk(items, "beans")
    assert settings.pk == 1


def test_excluded_products_and_categories_are_never_recommended(items: dict[str, Product], garden: Category) -> None:
    stored_version(similar={items["kettle"].pk: pk(items, "teapot", "hose", "mug", "shears")})
    RecommendationRule.objects.create(kind=RuleKind.EXCLUDE, product=items["teapot"])
    sub = make_category("Hoses", parent=garden)
    Product.objects.filter(pk=items["hose"].pk).update(category=sub)
    bump_catalog_version()
    assert product_ids(ask("product", product_id=items["kettle"].pk)) == pk(items, "hose", "mug", "shears")
    RecommendationRule.objects.create(kind=RuleKind.EXCLUDE, category=garden)
    assert product_ids(ask("product", product_id=items["kettle"].pk)) == pk(items, "mug")


def test_new_arrivals_and_sale_items_get_the_merchants_boost(items: dict[str, Product]) -> None:
    stored_version(similar={items["kettle"].pk: pk(items, "teapot", "mug", "beans")})
    Product.objects.exclude(pk=items["beans"].pk).update(created_at=timezone.now() - timedelta(days=90))
    Variant.objects.filter(product=items["mug"]).update(compare_at_price=Decimal("99.00"))
    bump_catalog_version()
    page = items["kettle"].pk
    assert product_ids(ask("product", product_id=page)) == pk(items, "teapot", "mug", "beans")
    settings = RecommendationSettings.objects.create(new_arrival_days=30, new_arrival_boost=2.0)
    assert product_ids(ask("product", product_id=page)) == pk(items, "beans", "teapot", "mug")
    settings.new_arrival_boost, settings.on_sale_boost = 0.0, 1.0
    settings.save()
    assert product_ids(ask("product", product_id=page)) == pk(items, "mug", "teapot", "beans")


# --- Recording and cost -----------------------------------------------------------------------------------------------


def test_each_response_has_its_own_id_and_records_what_was_shown(items: dict[str, Product]) -> None:
    ada = make_user("ada@example.com")
    version = stored_version(similar={items["kettle"].pk: pk(items, "teapot", "mug")})
    first = ask("product", Audience(user_id=ada.pk, session_key="s1"), product_id=items["kettle"].pk)
    second = ask("product", product_id=items["kettle"].pk)
    ask("product", product_id=items["teapot"].pk)  # nothing to show, nothing recorded
    assert first.recommendation_id != second.recommendation_id
    buffer.flush()
    shown = list(Event.objects.filter(name=EventName.RECOMMENDATION_SHOWN).order_by("pk"))
    assert len(shown) == 2
    assert shown[0].user_id == ada.pk and shown[0].session_key == "s1"
    assert shown[0].payload == {
        "recommendation_id": first.recommendation_id,
        "slot": "product_similar",
        "model": version.label,
        "strategy": "similar",
        "product_ids": pk(items, "teapot", "mug"),
    }
    assert shown[1].user_id is None and shown[1].visitor_id == "visitor-a"


@pytest.mark.parametrize("limit", [2, services.MAX_LIMIT])
def test_queries_do_not_grow_with_the_list_and_a_warm_request_reads_only_the_shoppers_state(
    items: dict[str, Product], limit: int, django_assert_max_num_queries: Any
) -> None:
    ada = make_user("ada@example.com")
    for n in range(30):
        make_product(f"Extra {n}")
    everything = list(Product.objects.values_list("pk", flat=True))
    stored_version(
        users={ada.pk: everything},
        similar={pid: everything for pid in everything},
        bought_together={pid: everything for pid in everything},
        trending={None: everything},
    )
    for days_ago, name in enumerate(("kettle", "teapot", "mug")):
        bought(items[name], user=ada, days_ago=days_ago + 1)
        viewed(items[name], user=ada)
    audience = Audience(user_id=ada.pk)
    # Cold: version, rules and settings, the shopper's state, top items, neighbours, trending, products (3).
    with django_assert_max_num_queries(11):
        cold = ask("home", audience, limit=limit)
    assert len(cold.items) == limit
    buffer.flush()
    # Warm: the shopper's purchases, cart and views, in one statement.
    with django_assert_max_num_queries(1):
        warm = ask("home", audience, limit=limit)
    assert product_ids(warm) == product_ids(cold)


def test_the_shoppers_state_is_read_in_one_statement_each_part_newest_first(
    items: dict[str, Product], django_assert_num_queries: Any
) -> None:
    ada = make_user("ada@example.com")
    bought(items["kettle"], user=ada, days_ago=5)
    bought(items["teapot"], items["kettle"], user=ada, days_ago=2)
    bought(items["mug"], user=ada, days_ago=1, status="cancelled")  # never bought after all
    bought(items["beans"], email="guest@example.com", days_ago=1)  # someone else's
    viewed(items["mug"], user=ada, days_ago=3)
    viewed(items["beans"], user=ada, days_ago=1)
    viewed(items["teapot"], visitor="visitor-a", days_ago=1)  # a browser's, not the account's
    ada_cart = cart_services.get_cart(user=ada, token=None, create=True)
    guest_cart = cart_services.get_cart(user=None, token=None, create=True)
    assert ada_cart is not None and guest_cart is not None
    cart_services.add_item(ada_cart, items["beans"].variants.get().pk, 1)
    cart_services.add_item(guest_cart, items["mug"].variants.get().pk, 1)

    with django_assert_num_queries(1):
        past = services.history(Audience(user_id=ada.pk, visitor_id="visitor-a"), views=True)
    assert [product_id for product_id, _ in past.purchases] == pk(items, "teapot", "kettle")
    purchase_times = dict(past.purchases)
    assert purchase_times[items["kettle"].pk] > timezone.now() - timedelta(days=3)  # the latest purchase counts
    assert all(at.tzinfo is not None for at in purchase_times.values())
    assert past.cart == tuple(pk(items, "beans"))
    assert past.viewed == tuple(pk(items, "beans", "mug"))
    assert past.just_bought(3) == set(pk(items, "teapot", "kettle"))

    browser = Audience(user_id=None, visitor_id="visitor-a", cart_token=guest_cart.token)
    with django_assert_num_queries(1):
        guest = services.history(browser, views=True)
    assert (guest.purchases, guest.cart, guest.viewed) == ((), tuple(pk(items, "mug")), tuple(pk(items, "teapot")))
    assert services.history(Audience(user_id=ada.pk), views=False).viewed == ()
    # Another customer's cart token names no cart of a guest; a browser seen for the first time has no views.
    with django_assert_num_queries(1):
        stranger = services.history(Audience(user_id=None, visitor_id="visitor-a", cart_token=ada_cart.token))
    assert stranger == services.History()
    with django_assert_num_queries(0):
        assert services.history(Audience(user_id=None, visitor_id="new", returning=False), views=True) == (
            services.History()
        )


def test_each_process_rereads_the_shared_state_after_a_second_and_at_once_after_its_own_changes(
    items: dict[str, Product], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "SHARED_STATE_SECONDS", 60.0)
    first = services.shared_state()
    cache.incr(CATALOG_VERSION_KEY)  # another worker's stock change
    assert services.shared_state() is first  # no round trip to the cache meanwhile
    monkeypatch.setattr(services, "SHARED_STATE_SECONDS", 0.0)
    assert services.shared_state().catalog == first.catalog + 1

    monkeypatch.setattr(services, "SHARED_STATE_SECONDS", 60.0)
    before = services.shared_state()
    bump_catalog_version()  # this process's own change
    assert services.shared_state().catalog > before.catalog
    assert services.shared_state().rules.excluded_products == frozenset()
    RecommendationRule.objects.create(kind=RuleKind.EXCLUDE, product=items["kettle"])
    assert services.shared_state().rules.excluded_products == {items["kettle"].pk}
    assert services.shared_state().model is None
    version = stored_version()
    assert (model := services.shared_state().model) is not None and model.id == version.pk
