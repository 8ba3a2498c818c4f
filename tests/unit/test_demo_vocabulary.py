"""The demo store's vocabulary and pictures, without a database."""

from __future__ import annotations

import io
import random
import string
from decimal import Decimal

import pytest
from PIL import Image

from patron.demo import images
from patron.demo.services import describe, plan_variants, shelf_price
from patron.demo.vocabulary import CATEGORY_TREE, CLOSING_SENTENCES, CategorySpec, ProductSpec

NEEDS_COLOURS = ("colour", "apparel", "shoes", "phone")


def walk(specs: tuple[CategorySpec, ...]) -> list[CategorySpec]:
    found: list[CategorySpec] = []
    for spec in specs:
        found.append(spec)
        found.extend(walk(spec.children))
    return found


ALL = walk(CATEGORY_TREE)
LEAVES = [spec for spec in ALL if spec.products is not None]


def product_spec(spec: CategorySpec) -> ProductSpec:
    assert spec.products is not None
    return spec.products


def test_tree_is_big_enough_and_slugs_are_unique() -> None:
    assert len(ALL) >= 20
    assert 25 <= len(LEAVES) <= 40
    assert len({spec.slug for spec in ALL}) == len(ALL)
    assert all(not spec.children for spec in LEAVES), "products live in leaf categories only"


@pytest.mark.parametrize("spec", LEAVES, ids=lambda spec: spec.slug)
def test_every_sentence_of_every_leaf_renders(spec: CategorySpec) -> None:
    products = product_spec(spec)
    context = {"name": "Alpine Thing", "brand": products.brands[0], "feature": products.features[0], "warranty": "2"}
    context |= {key: values[0] for key, values in products.attributes.items()}
    for sentence in (*products.sentences, *CLOSING_SENTENCES):
        rendered = sentence.format(**context)
        assert "{" not in rendered
    text = describe(products, random.Random(1), context)
    assert text.count(".") >= 2, "descriptions have several sentences"
    assert text.startswith(products.sentences[0].format(**context))


@pytest.mark.parametrize("spec", LEAVES, ids=lambda spec: spec.slug)
def test_variants_are_well_formed(spec: CategorySpec) -> None:
    products = product_spec(spec)
    if products.variants in NEEDS_COLOURS:
        assert products.colours, f"{spec.slug} varies by colour but lists none"
    rng = random.Random(3)
    for _ in range(20):
        variants = plan_variants(rng, products, shelf_price(rng, *products.price))
        assert variants
        assert len({tuple(sorted(v.options.items())) for v in variants}) == len(variants), "options repeat"
        for variant in variants:
            assert variant.price > 0
            assert variant.stock >= 0
            if variant.compare_at_price is not None:
                assert variant.compare_at_price > variant.price


def test_prices_fall_in_range_and_end_like_shelf_prices() -> None:
    rng = random.Random(5)
    prices = [shelf_price(rng, 20, 300) for _ in range(500)]
    assert all(isinstance(price, Decimal) for price in prices)
    assert all(Decimal("19") <= price <= Decimal("300") for price in prices)
    assert {str(price)[-3:] for price in prices} == {".99", ".49"}


def test_searchable_demo_words_are_anchored() -> None:
    anchors = {product_spec(spec).anchor for spec in LEAVES}
    assert "Bluetooth Noise-Cancelling Headphones" in anchors
    assert "Waterproof Hiking Jacket" in anchors


def test_product_card_is_a_600px_jpeg_of_reasonable_weight() -> None:
    data = images.render_card(
        title="Sonora Bluetooth Noise-Cancelling Headphones",
        caption="Sonora Headphones",
        brand="Auralis",
        hue=0.58,
        shape="circle",
    )
    picture = Image.open(io.BytesIO(data))
    assert picture.format == "JPEG"
    assert picture.size == (600, 600)
    assert 10_000 < len(data) < 60_000
    # The centre of the card carries the shape's colour, not the background's.
    assert picture.getpixel((300, 150)) != picture.getpixel((20, 300))


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Sonora Bluetooth Headphones", "SB"), ("The Quiet Orchard", "TQ"), ("-", "P"), ("Wi-Fi Plug", "WF")],
)
def test_initials(name: str, expected: str) -> None:
    assert images.initials(name) == expected
    assert set(images.initials(name)) <= set(string.ascii_uppercase)
