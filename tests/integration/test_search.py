"""Catalog search on a small known catalog: ranking, prefixes, typos, filters, facets, sorting, pages, queries."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.db import connection

from patron.catalog.models import Category, Product, SearchTerm
from patron.catalog.services import (
    Facets,
    FacetValue,
    ProductFilters,
    ProductPage,
    parse_filters,
    refresh_products,
    search_products,
)
from patron.errors import NotFound
from tests.factories import make_category, make_image, make_product

pytestmark = pytest.mark.django_db


@dataclass
class Catalog:
    electronics: Category
    audio: Category
    headphones: Category
    phones: Category
    clothing: Category
    shirts: Category
    bt_headphones: Product
    wired_headphones: Product
    speaker: Product
    phone: Product
    cotton_shirt: Product
    linen_shirt: Product
    hidden: Product


@pytest.fixture
def catalog() -> Catalog:
    electronics = make_category("Electronics")
    audio = make_category("Audio", parent=electronics)
    headphones = make_category("Headphones", parent=audio)
    phones = make_category("Phones", parent=electronics)
    clothing = make_category("Clothing")
    shirts = make_category("Shirts", parent=clothing)
    return Catalog(
        electronics=electronics,
        audio=audio,
        headphones=headphones,
        phones=phones,
        clothing=clothing,
        shirts=shirts,
        bt_headphones=make_product(
            "Bluetooth Headphones",
            brand="Acme",
            category=headphones,
            price="99.00",
            stock=5,
            options=[{"colour": "Black"}, {"colour": "Red"}],
            description="Wireless over-ear sound with a long battery life.",
        ),
        wired_headphones=make_product(
            "Wired Headphones",
            brand="Sonic",
            category=headphones,
            price="29.00",
            stock=0,
            description="Classic sound on a cable.",
        ),
        speaker=make_product(
            "Portable Speaker",
            brand="Acme",
            category=audio,
            price="59.00",
            stock=3,
            options=[{"colour": "Blue"}],
            description="Pairs over bluetooth with any phone.",
        ),
        phone=make_product(
            "Smartphone X", brand="Zed", category=phones, price="499.00", stock=2, description="Bluetooth 5.3 and NFC."
        ),
        cotton_shirt=make_product(
            "Cotton Shirt",
            brand="Tailor",
            category=shirts,
            price="25.00",
            stock=10,
            attributes={"material": "cotton"},
            options=[{"size": "S", "colour": "Red"}, {"size": "M", "colour": "Red"}],
        ),
        linen_shirt=make_product(
            "Linen Shirt",
            brand="Tailor",
            category=shirts,
            price="45.00",
            stock=0,
            attributes={"material": "linen"},
            options=[{"size": "M", "colour": "Blue"}],
        ),
        hidden=make_product("Bluetooth Mouse", brand="Acme", category=electronics, is_active=False),
    )


def search(**params: str | list[str]) -> ProductPage:
    return search_products(parse_filters(params))


def names(page: ProductPage) -> list[str]:
    return [product.name for product in page.products]


def counts(values: list[FacetValue]) -> dict[str, int]:
    return {facet.value: facet.count for facet in values}


# --- Text search ---------------------------------------------------------------------------------------


def test_name_match_ranks_above_description_only_matches(catalog: Catalog) -> None:
    page = search(q="bluetooth")
    assert names(page)[0] == "Bluetooth Headphones"
    assert set(names(page)) == {"Bluetooth Headphones", "Portable Speaker", "Smartphone X"}
    assert page.total == 3
    assert page.corrected_query is None


def test_inactive_products_are_never_found(catalog: Catalog) -> None:
    assert "Bluetooth Mouse" not in names(search(q="mouse")) + names(search(q="bluetooth"))


def test_last_word_matches_as_a_prefix(catalog: Catalog) -> None:
    assert "Bluetooth Headphones" in names(search(q="blue"))
    assert names(search(q="bluetooth head")) == ["Bluetooth Headphones"]
    assert search(q="blue").corrected_query is None


def test_every_word_must_match(catalog: Catalog) -> None:
    assert names(search(q="wired headphones")) == ["Wired Headphones"]


def test_typos_are_corrected_and_reported(catalog: Catalog) -> None:
    page = search(q="blutooth headphnes")
    assert names(page) == ["Bluetooth Headphones"]
    assert page.corrected_query == "bluetooth headphones"


def test_a_transposed_letter_is_corrected(catalog: Catalog) -> None:
    page = search(q="potrable")
    assert names(page) == ["Portable Speaker"]
    assert page.corrected_query == "portable"


def test_known_words_are_not_corrected(catalog: Catalog) -> None:
    page = search(q="cotton")
    assert names(page) == ["Cotton Shirt"]
    assert page.corrected_query is None


def test_any_word_matches_when_no_product_has_every_word(catalog: Catalog) -> None:
    page = search(q="linen headphones")
    assert set(names(page)) == {"Linen Shirt", "Bluetooth Headphones", "Wired Headphones"}
    assert page.corrected_query is None


def test_case_and_accents_do_not_matter(catalog: Catalog) -> None:
    make_product("Café Crème Mug", category=catalog.clothing)
    assert names(search(q="CAFE creme")) == ["Café Crème Mug"]
    assert names(search(q="café")) == ["Café Crème Mug"]


def test_attribute_values_are_searchable(catalog: Catalog) -> None:
    assert set(names(search(q="red shirt"))) == {"Cotton Shirt"}


def test_nothing_found(catalog: Catalog) -> None:
    page = search(q="xylophone")
    assert page.products == [] and page.total == 0 and page.num_pages == 1
    assert page.facets == Facets()


def test_punctuation_only_query_lists_everything(catalog: Catalog) -> None:
    assert search(q="  ?! ").total == 6


# --- Filters and facets ---------------------------------------------------------------------------------


def test_facets_of_the_whole_catalog(catalog: Catalog) -> None:
    page = search()
    assert page.total == 6
    facets = page.facets
    assert counts(facets.categories) == {"electronics": 4, "clothing": 2}
    assert [facet.value for facet in facets.brands] == ["Acme", "Tailor", "Sonic", "Zed"]
    assert counts(facets.brands) == {"Acme": 2, "Tailor": 2, "Sonic": 1, "Zed": 1}
    assert facets.in_stock_count == 4
    assert (facets.price_min, facets.price_max) == (Decimal("25.00"), Decimal("499.00"))
    assert {name: counts(values) for name, values in facets.attributes.items()} == {
        "colour": {"Black": 1, "Blue": 2, "Red": 2},
        "size": {"M": 2, "S": 1},
        "material": {"cotton": 1, "linen": 1},
    }


def test_category_filter_includes_sub_categories(catalog: Catalog) -> None:
    page = search(category="electronics")
    assert set(names(page)) == {"Bluetooth Headphones", "Wired Headphones", "Portable Speaker", "Smartphone X"}
    assert counts(page.facets.categories) == {"audio": 3, "phones": 1}
    assert counts(search(category="audio").facets.categories) == {"headphones": 2}


def test_unknown_category_is_not_found(catalog: Catalog) -> None:
    with pytest.raises(NotFound):
        search(category="nope")


def test_price_range_filters_on_the_from_price(catalog: Catalog) -> None:
    page = search(min_price="30", max_price="100")
    assert set(names(page)) == {"Bluetooth Headphones", "Portable Speaker", "Linen Shirt"}
    assert (page.facets.price_min, page.facets.price_max) == (Decimal("25.00"), Decimal("499.00"))
    assert counts(page.facets.brands) == {"Acme": 2, "Tailor": 1}


def test_brand_filter_and_brand_facet_ignoring_its_own_selection(catalog: Catalog) -> None:
    page = search(brand="Acme")
    assert set(names(page)) == {"Bluetooth Headphones", "Portable Speaker"}
    assert counts(page.facets.brands) == {"Acme": 2, "Tailor": 2, "Sonic": 1, "Zed": 1}
    assert [facet.value for facet in page.facets.brands if facet.selected] == ["Acme"]
    assert counts(page.facets.categories) == {"electronics": 2}
    assert set(names(search(brand=["Acme", "Zed"]))) == {"Bluetooth Headphones", "Portable Speaker", "Smartphone X"}


def test_attribute_filters(catalog: Catalog) -> None:
    page = search(attr_colour="Red")
    assert set(names(page)) == {"Bluetooth Headphones", "Cotton Shirt"}
    attributes = {name: counts(values) for name, values in page.facets.attributes.items()}
    assert attributes == {
        "colour": {"Black": 1, "Blue": 2, "Red": 2},
        "size": {"M": 1, "S": 1},
        "material": {"cotton": 1},
    }
    both = search(attr_colour="Red", attr_size="M")
    assert names(both) == ["Cotton Shirt"]
    attributes = {name: counts(values) for name, values in both.facets.attributes.items()}
    assert attributes["colour"] == {"Red": 1, "Blue": 1}
    assert attributes["size"] == {"M": 1, "S": 1}
    assert set(names(search(attr_colour=["Red", "Blue"]))) == {
        "Bluetooth Headphones",
        "Cotton Shirt",
        "Portable Speaker",
        "Linen Shirt",
    }


def test_a_selected_value_without_results_stays_visible(catalog: Catalog) -> None:
    page = search(brand="Nobody", attr_colour="Purple")
    assert page.total == 0
    assert FacetValue("Nobody", "Nobody", 0, True) in page.facets.brands
    assert FacetValue("Purple", "Purple", 0, True) in page.facets.attributes["colour"]


def test_in_stock_filter(catalog: Catalog) -> None:
    page = search(in_stock="1")
    assert set(names(page)) == {"Bluetooth Headphones", "Portable Speaker", "Smartphone X", "Cotton Shirt"}
    assert page.facets.in_stock_count == 4
    assert counts(page.facets.brands) == {"Acme": 2, "Zed": 1, "Tailor": 1}


def test_filters_combine_with_text_search(catalog: Catalog) -> None:
    page = search(q="headphones", in_stock="1")
    assert names(page) == ["Bluetooth Headphones"]
    assert page.facets.in_stock_count == 1
    assert counts(page.facets.brands) == {"Acme": 1}
    assert counts(page.facets.categories) == {"electronics": 1}
    assert page.total == 1


# --- Sorting and pages -----------------------------------------------------------------------------------


def test_sort_orders(catalog: Catalog) -> None:
    by_price = ["Cotton Shirt", "Wired Headphones", "Linen Shirt", "Portable Speaker", "Bluetooth Headphones"]
    assert names(search(sort="price")) == [*by_price, "Smartphone X"]
    assert names(search(sort="-price")) == ["Smartphone X", *reversed(by_price)]
    assert names(search()) == names(search(sort="newest"))
    newest = names(search(sort="newest"))
    assert newest[0] == "Linen Shirt" and newest[-1] == "Bluetooth Headphones"
    Product.objects.filter(pk=catalog.phone.pk).update(sales_count=10)
    Product.objects.filter(pk=catalog.speaker.pk).update(sales_count=4)
    assert names(search(sort="best_selling"))[:2] == ["Smartphone X", "Portable Speaker"]
    assert names(search(q="bluetooth", sort="price")) == ["Portable Speaker", "Bluetooth Headphones", "Smartphone X"]


def test_pages(catalog: Catalog) -> None:
    all_names = names(search(sort="price"))
    first = search(sort="price", page_size="4")
    second = search(sort="price", page_size="4", page="2")
    assert (first.total, first.num_pages, first.has_next, first.has_previous) == (6, 2, True, False)
    assert names(first) + names(second) == all_names
    assert (second.has_next, second.has_previous) == (False, True)
    beyond = search(sort="price", page_size="4", page="9")
    assert beyond.products == [] and beyond.total == 6 and beyond.page == 9


def test_relevance_pages_with_filters(catalog: Catalog) -> None:
    first = search(q="bluetooth", brand=["Acme", "Zed"], page_size="1")
    second = search(q="bluetooth", brand=["Acme", "Zed"], page_size="1", page="2")
    assert (first.total, first.num_pages) == (3, 3)
    assert names(first) == ["Bluetooth Headphones"]
    assert names(second)[0] in {"Portable Speaker", "Smartphone X"}


def test_page_size_is_capped() -> None:
    assert parse_filters({"page_size": "500"}).page_size == 100
    assert search_products(ProductFilters(page_size=1000)).page_size == 100


# --- Query counts ------------------------------------------------------------------------------------------


@pytest.fixture
def big_catalog() -> Category:
    category = make_category("Gadgets")
    for number in range(120):
        product = make_product(
            f"Gadget bluetooth {number}",
            brand=f"Brand {number % 7}",
            category=category,
            price=str(10 + number),
            options=[{"colour": "Red"}, {"colour": "Blue"}],
        )
        if number < 30:
            make_image(product)
    return category


@pytest.mark.parametrize("page_size", ["24", "100"])
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": "bluetooth gadget"},
        {"q": "bluetooth", "brand": ["Brand 1", "Brand 2"], "attr_colour": "Red", "in_stock": "1"},
        {"category": "gadgets", "sort": "price", "min_price": "20"},
    ],
)
def test_search_runs_a_bounded_number_of_queries(
    big_catalog: Category, django_assert_max_num_queries: object, params: dict[str, str], page_size: str
) -> None:
    with django_assert_max_num_queries(8):  # type: ignore[operator]
        page = search(**params, page_size=page_size)
    assert len(page.products) == min(int(page_size), page.total)
    with django_assert_max_num_queries(1):  # type: ignore[operator]
        for product in page.products:
            assert product.category.name == "Gadgets"
            list(product.images.all())
            list(product.variants.all())


def test_typo_correction_adds_a_bounded_number_of_queries(
    big_catalog: Category, django_assert_max_num_queries: object
) -> None:
    with django_assert_max_num_queries(9):  # type: ignore[operator]
        page = search(q="gadgte blutooth", page_size="100")
    assert page.corrected_query == "gadget bluetooth"
    assert page.total == 120


# --- The index itself -------------------------------------------------------------------------------------


def test_the_search_indexes_exist_on_this_database() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name, sql FROM sqlite_master WHERE name LIKE 'catalog_%%'")
            tables = dict(cursor.fetchall())
            assert "USING fts5" in tables["catalog_product_search"]
            assert "trigram" in tables["catalog_searchterm_trigram"]
        else:
            cursor.execute("SELECT extname FROM pg_extension")
            assert "pg_trgm" in {row[0] for row in cursor.fetchall()}
            cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename LIKE 'catalog_%%'")
            indexes = dict(cursor.fetchall())
            assert "USING gin (document)" in indexes["catalog_product_search_document"]
            assert "gin_trgm_ops" in indexes["catalog_searchterm_term_trgm"]


def test_vocabulary_follows_the_catalog(catalog: Catalog) -> None:
    assert SearchTerm.objects.get(term="headphones").frequency == 2
    assert SearchTerm.objects.filter(term="mouse").exists() is False
    Product.objects.filter(pk=catalog.linen_shirt.pk).update(name="Hemp Shirt", attributes={"material": "hemp"})
    refresh_products([catalog.linen_shirt.pk])
    assert SearchTerm.objects.filter(term="linen").exists() is False
    assert SearchTerm.objects.get(term="hemp").frequency == 1
    assert SearchTerm.objects.get(term="shirt").frequency == 2
    assert names(search(q="hemp")) == ["Hemp Shirt"]
