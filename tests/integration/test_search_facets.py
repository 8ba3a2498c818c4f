"""Facet counting shortcuts: the whole catalog's attribute counts and facets reused across pages and orders."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patron.catalog.models import Product
from patron.catalog.services import FacetValue, ProductPage, parse_filters, refresh_products, search_products
from tests.factories import make_category, make_product

pytestmark = pytest.mark.django_db


def search(**params: str) -> ProductPage:
    return search_products(parse_filters(params))


def attribute_counts(page: ProductPage) -> dict[str, dict[str, int]]:
    return {name: {facet.value: facet.count for facet in values} for name, values in page.facets.attributes.items()}


def labels(values: list[FacetValue]) -> list[str]:
    return [facet.value for facet in values]


@pytest.fixture
def shelf() -> list[Product]:
    lamps = make_category("Lamps")
    return [
        make_product("Desk Lamp", category=lamps, options=[{"colour": "Red"}, {"colour": "Blue"}]),
        make_product("Floor Lamp", category=lamps, attributes={"material": "brass"}, options=[{"colour": "Red"}]),
        make_product(
            "Retired Lamp",
            category=lamps,
            attributes={"material": "glass"},
            options=[{"colour": "Red"}, {"colour": "Green"}],
            is_active=False,
        ),
    ]


def test_whole_catalog_attribute_counts_leave_out_inactive_products(shelf: list[Product]) -> None:
    refresh_products([product.pk for product in shelf])
    everything = search()
    assert attribute_counts(everything) == {"colour": {"Blue": 1, "Red": 2}, "material": {"brass": 1}}
    assert labels(everything.facets.attributes["colour"]) == ["Blue", "Red"]
    assert attribute_counts(search(category="lamps")) == attribute_counts(everything)


def test_facets_are_shared_by_pages_and_orders_until_the_catalog_changes(shelf: list[Product]) -> None:
    refresh_products([product.pk for product in shelf])
    search(category="lamps")  # the category tree and the catalog version are cached from here on
    with CaptureQueriesContext(connection) as first:
        newest = search(page_size="1")
    with CaptureQueriesContext(connection) as second:
        cheapest = search(page_size="1", page="2", sort="price")
    assert len(second.captured_queries) < len(first.captured_queries)
    assert cheapest.facets == newest.facets and cheapest.total == newest.total == 2

    retired = shelf[2]
    Product.objects.filter(pk=retired.pk).update(is_active=True)
    refresh_products([retired.pk])
    changed = search(page_size="1")
    assert changed.total == 3
    assert attribute_counts(changed) == {
        "colour": {"Blue": 1, "Green": 1, "Red": 3},
        "material": {"brass": 1, "glass": 1},
    }
