"""Stock reservations: all or nothing, never below zero, also when many checkouts race for the last units."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import transaction

from patron.catalog.models import Product, Variant
from patron.catalog.services import catalog_version, release_stock, reserve_stock
from patron.errors import OutOfStock, ValidationFailed
from tests.concurrency import in_threads, own_database_file, race
from tests.factories import make_product


def _variant(product: Product, position: int = 0) -> Variant:
    return product.variants.get(position=position)


@pytest.mark.django_db
def test_reserve_takes_units_and_follows_on_the_product() -> None:
    product = make_product("Kettle", stock=5, options=[{"size": "S"}, {"size": "L"}])
    small, large = _variant(product, 0), _variant(product, 1)
    before = catalog_version()

    reserve_stock({small.pk: 2, large.pk: 5})

    small.refresh_from_db()
    large.refresh_from_db()
    product.refresh_from_db()
    assert (small.stock, large.stock, product.total_stock) == (3, 0, 3)
    assert catalog_version() > before


@pytest.mark.django_db
def test_reserve_is_all_or_nothing_and_names_the_short_variants() -> None:
    plenty = _variant(make_product("Mug", stock=10))
    scarce = _variant(make_product("Teapot", stock=2))

    # A refusal rolls back the transaction it runs in, here this one.
    with pytest.raises(OutOfStock) as caught, transaction.atomic():
        reserve_stock({plenty.pk: 4, scarce.pk: 3})

    assert caught.value.status == 409
    assert caught.value.code == "out_of_stock"
    assert caught.value.available == {scarce.pk: 2}
    assert caught.value.fields == {str(scarce.pk): ["Only 2 left of Teapot."]}
    assert caught.value.message == "Only 2 left of Teapot."
    plenty.refresh_from_db()
    scarce.refresh_from_db()
    assert (plenty.stock, scarce.stock) == (10, 2)
    assert Product.objects.get(pk=plenty.product_id).total_stock == 10


@pytest.mark.django_db
def test_an_inactive_variant_cannot_be_reserved() -> None:
    variant = _variant(make_product("Old lamp", stock=3))
    Variant.objects.filter(pk=variant.pk).update(is_active=False)
    with pytest.raises(OutOfStock) as caught:
        reserve_stock({variant.pk: 1})
    assert caught.value.available == {variant.pk: 0}
    assert "out of stock" in caught.value.message


@pytest.mark.django_db
def test_release_puts_units_back() -> None:
    product = make_product("Kettle", stock=1)
    variant = _variant(product)
    reserve_stock({variant.pk: 1})
    release_stock({variant.pk: 1})
    variant.refresh_from_db()
    product.refresh_from_db()
    assert (variant.stock, product.total_stock) == (1, 1)


@pytest.mark.django_db
def test_negative_quantities_are_refused_and_zero_is_a_no_op() -> None:
    variant = _variant(make_product("Kettle", stock=1))
    with pytest.raises(ValidationFailed):
        reserve_stock({variant.pk: -1})
    reserve_stock({variant.pk: 0})
    variant.refresh_from_db()
    assert variant.stock == 1


def _buy_one(variant_id: int) -> bool:
    try:
        with transaction.atomic():
            reserve_stock({variant_id: 1})
    except OutOfStock:
        return False
    return True


@race
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_buyers_never_oversell(tmp_path: Path) -> None:
    product = make_product("Hot item", stock=5)
    variant = _variant(product)

    with own_database_file(tmp_path):
        results = in_threads(50, lambda: _buy_one(variant.pk))
        [(stock, total_stock)] = in_threads(
            1, lambda: (Variant.objects.get(pk=variant.pk).stock, Product.objects.get(pk=product.pk).total_stock)
        )

    assert (results.count(True), results.count(False)) == (5, 45)
    assert (stock, total_stock) == (0, 0)
