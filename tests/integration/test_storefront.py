"""Storefront pages rendered through the whole stack: URLs, views, catalog services, templates, page cache."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.contrib.messages import constants
from django.contrib.messages.storage.base import Message
from django.contrib.messages.storage.cookie import CookieStorage
from django.test import Client, RequestFactory
from django.urls import reverse

from patron.accounts.models import User
from patron.catalog.models import Category, Product, Variant
from patron.catalog.services import refresh_products
from patron.storefront.testing import SampleCatalog, add_image, build_sample_catalog, make_product

pytestmark = pytest.mark.django_db


class TagCollector(HTMLParser):
    """Every start tag of a page with its attributes, enough to check images, inputs and links."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str, tag_name: str, /, **where: str) -> list[dict[str, str | None]]:
    collector = TagCollector()
    collector.feed(html)
    return [
        attrs
        for tag, attrs in collector.tags
        if tag == tag_name and all(attrs.get(key.rstrip("_")) == value for key, value in where.items())
    ]


def product_links(html: str) -> list[str]:
    """Product slugs in the order the listing shows them."""
    return re.findall(r'class="product-card__link" href="/p/([\w-]+)/"', html)


def structured_data(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert match, "the page has no JSON-LD"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def page(client: Client, url: str, **headers: Any) -> str:
    response = client.get(url, **headers)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def catalog(media: Path) -> SampleCatalog:
    return build_sample_catalog()


@pytest.fixture
def shopper() -> User:
    return User.objects.create_user("grace@example.com", "a long enough password", name="Grace Hopper")


# Layout and home ----------------------------------------------------------------------------------------------


def test_layout_has_skip_link_search_box_categories_and_account_links(client: Client, catalog: SampleCatalog) -> None:
    html = page(client, "/")
    assert '<a class="skip-link" href="#main">' in html
    search = tags(html, "input", id="search-q")[0]
    assert search["type"] == "search"
    assert search["name"] == "q"
    assert search["hx-get"] == reverse("storefront:suggest")
    assert "delay:" in (search["hx-trigger"] or "")
    assert '<label class="visually-hidden" for="search-q">' in html
    assert tags(html, "div", id="search-suggestions")[0]["aria-live"] == "polite"
    nav = html.split('aria-label="Categories"', 1)[1].split("</nav>", 1)[0]
    assert 'href="/c/electronics/"' in nav
    assert 'href="/c/clothing/"' in nav
    assert 'href="/c/audio/"' not in nav, "the header lists top-level categories only"
    assert f'href="{reverse("accounts:login")}"' in html
    assert f'href="{reverse("accounts:register")}"' in html
    assert reverse("accounts:logout") not in html


def test_home_shows_top_categories_bestsellers_and_new_arrivals(client: Client, catalog: SampleCatalog) -> None:
    html = page(client, "/")
    assert "Shop by category" in html
    assert 'class="category-tile" href="/c/electronics/"' in html
    assert "Bestsellers" in html
    assert "New arrivals" in html
    for product in catalog.products:
        if product.in_stock:
            assert f'href="/p/{product.slug}/"' in html
    assert 'href="/p/wired-earbuds/"' not in html, "the home shelves show what can be bought now"

    images = tags(html, "img")
    headphone_images = [img for img in images if img["alt"] == "Black Bluetooth headphones"]
    assert headphone_images, "the card uses the image's alt text"
    assert all(img["width"] == "400" and img["height"] == "400" for img in images)
    speaker_images = [img for img in images if img["alt"] == "Portable Speaker"]
    assert speaker_images, "an image without alt text falls back to the product name"
    # The second shelf is below the fold on every screen: its images load lazily.
    new_arrivals = html.split('id="new-heading"', 1)[1]
    assert all(img["loading"] == "lazy" for img in tags(new_arrivals, "img"))


def test_product_card_shows_sale_price_and_out_of_stock(client: Client, catalog: SampleCatalog) -> None:
    html = page(client, "/c/electronics/") + page(client, "/c/clothing/")
    card = html.split('href="/p/bluetooth-headphones/"', 1)[1].split("</li>", 1)[0]
    assert "$99.00" in card
    assert re.search(r"<s class=\"price__was\">.*\$129\.00</s>", card)
    assert "Sonora" in card
    earbuds = html.split('href="/p/wired-earbuds/"', 1)[1].split("</li>", 1)[0]
    assert "Out of stock" in earbuds
    assert "Out of stock" not in card
    tshirt = html.split('href="/p/organic-cotton-t-shirt/"', 1)[1].split("</li>", 1)[0]
    assert "From" in tshirt and "$15.00" in tshirt


# Category pages -----------------------------------------------------------------------------------------------


def test_category_page_has_breadcrumbs_subcategories_and_its_subtree(client: Client, catalog: SampleCatalog) -> None:
    html = page(client, "/c/audio/")
    crumbs = html.split('aria-label="Breadcrumb"', 1)[1].split("</nav>", 1)[0]
    assert 'href="/"' in crumbs and 'href="/c/electronics/"' in crumbs
    assert '<span aria-current="page">Audio</span>' in crumbs
    assert sorted(product_links(html)) == ["bluetooth-headphones", "wired-earbuds"]

    html = page(client, "/c/electronics/")
    assert 'class="chip" href="/c/audio/"' in html
    assert sorted(product_links(html)) == ["bluetooth-headphones", "portable-speaker", "wired-earbuds"]
    assert "3 products" in html


def test_category_facets_show_counts_and_selection(client: Client, catalog: SampleCatalog) -> None:
    html = page(client, "/c/electronics/?brand=Acme")
    acme = tags(html, "input", name="brand", value="Acme")[0]
    assert "checked" in acme
    sonora = tags(html, "input", name="brand", value="Sonora")[0]
    assert "checked" not in sonora
    assert re.search(r'for="brand-acme">Acme <span class="facet__count">2</span>', html)
    assert tags(html, "input", name="attr_connectivity", value="Bluetooth")


def test_long_facets_fold_away_their_tail_but_keep_a_choice_in_sight(client: Client, media: Path) -> None:
    shelf = Category.objects.create(name="Shelf", slug="shelf")
    products = [
        make_product(shelf, f"Jar {n}", f"jar-{n}", brand=f"Maker {n:02d}", variants=[{"sku": f"J{n}", "price": "5"}])
        for n in range(11)
    ]
    refresh_products([product.pk for product in products])
    html = page(client, "/c/shelf/")
    brand_facet = html.split('<legend class="facet__title">Brand</legend>', 1)[1].split("</fieldset>", 1)[0]
    shown, folded = brand_facet.split('<details class="facet__more">')
    assert len(tags(shown, "input", name="brand")) == 8
    assert "Show 3 more" in folded
    assert len(tags(folded, "input", name="brand")) == 3

    rare = tags(folded, "input", name="brand")[-1]["value"]
    html = page(client, f"/c/shelf/?brand={rare}")
    brand_facet = html.split('<legend class="facet__title">Brand</legend>', 1)[1].split("</fieldset>", 1)[0]
    shown, folded = brand_facet.split('<details class="facet__more">')
    assert "checked" in tags(shown, "input", name="brand", value=str(rare))[0]
    assert "Show 2 more" in folded


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("brand=Acme", ["portable-speaker", "wired-earbuds"]),
        ("brand=Acme&brand=Sonora", ["bluetooth-headphones", "portable-speaker", "wired-earbuds"]),
        ("max_price=50", ["portable-speaker", "wired-earbuds"]),
        ("min_price=40&max_price=100", ["bluetooth-headphones", "portable-speaker"]),
        ("in_stock=1", ["bluetooth-headphones", "portable-speaker"]),
        ("attr_connectivity=Wired", ["wired-earbuds"]),
        ("brand=Acme&in_stock=1", ["portable-speaker"]),
    ],
)
def test_filters_narrow_the_listing(client: Client, catalog: SampleCatalog, query: str, expected: list[str]) -> None:
    html = page(client, f"/c/electronics/?{query}")
    assert sorted(product_links(html)) == expected


def test_sorting_orders_the_listing(client: Client, catalog: SampleCatalog) -> None:
    cheapest_first = product_links(page(client, "/c/electronics/?sort=price"))
    assert cheapest_first == ["wired-earbuds", "portable-speaker", "bluetooth-headphones"]
    dearest_first = product_links(page(client, "/c/electronics/?sort=-price"))
    assert dearest_first == list(reversed(cheapest_first))
    html = page(client, "/c/electronics/?sort=-price")
    assert "selected" in tags(html, "option", value="-price")[0]
    assert not tags(html, "option", value="relevance"), "relevance only makes sense for a search"


def test_pagination_keeps_filters_and_moves_through_pages(client: Client, catalog: SampleCatalog) -> None:
    first = page(client, "/c/electronics/?sort=price&page_size=2")
    assert product_links(first) == ["wired-earbuds", "portable-speaker"]
    next_link = tags(first, "a", rel="next")[0]
    assert next_link["href"] == "/c/electronics/?sort=price&page_size=2&page=2"
    assert next_link["hx-get"] == next_link["href"]
    second = page(client, str(next_link["href"]))
    assert product_links(second) == ["bluetooth-headphones"]
    assert tags(second, "a", rel="prev")
    assert not tags(second, "a", rel="next")


def test_filter_form_works_with_and_without_javascript(client: Client, catalog: SampleCatalog) -> None:
    html = page(client, "/c/electronics/")
    form = tags(html, "form", id="catalog-filters")[0]
    assert form["method"] == "get"
    assert form["action"] == "/c/electronics/"
    assert form["hx-get"] == "/c/electronics/"
    assert "change" in (form["hx-trigger"] or "")
    catalog_div = tags(html, "div", id="catalog")[0]
    assert catalog_div["hx-push-url"] == "true"
    assert catalog_div["hx-target"] == "#catalog"


def test_htmx_request_gets_only_the_listing_fragment(client: Client, catalog: SampleCatalog) -> None:
    response = client.get("/c/electronics/?brand=Acme", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert 'aria-label="Breadcrumb"' not in html
    assert html.lstrip().startswith('<div id="catalog"')
    assert sorted(product_links(html)) == ["portable-speaker", "wired-earbuds"]
    assert 'id="catalog-status" hx-swap-oob="innerHTML">2 products found' in html
    assert "HX-Request" in response["Vary"]

    restore = client.get("/c/electronics/?brand=Acme", HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert "<html" in restore.content.decode(), "a history restore needs the whole page"


def test_invalid_filters_are_ignored_not_an_error(client: Client, catalog: SampleCatalog) -> None:
    html = page(client, "/c/electronics/?min_price=cheap&brand=Acme&page=zero")
    assert "were not valid" in html
    assert "portable-speaker" in product_links(html)


# Search -------------------------------------------------------------------------------------------------------


def test_search_corrects_typos_and_says_so(client: Client, catalog: SampleCatalog) -> None:
    html = page(client, "/search/?q=blutooth+headphnes")
    assert "Showing results for <strong>bluetooth headphones</strong>" in html
    assert product_links(html)[0] == "bluetooth-headphones"
    assert tags(html, "input", id="search-q")[0]["value"] == "blutooth headphnes"


def test_search_has_filters_facets_and_the_query_kept(client: Client, catalog: SampleCatalog) -> None:
    html = page(client, "/search/?q=bluetooth")
    assert sorted(product_links(html)) == ["bluetooth-headphones", "portable-speaker"]
    assert tags(html, "input", type="hidden", name="q", value="bluetooth")
    assert "selected" in tags(html, "option", value="relevance")[0]
    html = page(client, "/search/?q=bluetooth&brand=Acme")
    assert product_links(html) == ["portable-speaker"]
    html = page(client, "/search/?q=bluetooth&category=audio")
    assert product_links(html) == ["bluetooth-headphones"]
    assert "checked" in tags(html, "input", type="radio", name="category", value="audio")[0]
    assert "Clear all" in html


def test_search_without_results_offers_a_way_on(client: Client, catalog: SampleCatalog) -> None:
    html = page(client, "/search/?q=xylophone")
    assert "No products match “xylophone”" in html
    assert "Try something else" in html
    assert 'class="chip" href="/c/electronics/"' in html
    assert "Popular right now" in html
    assert 'id="filters-panel"' not in html, "no filters to offer when nothing matched and nothing was filtered"


def test_empty_search_invites_browsing(client: Client, catalog: SampleCatalog) -> None:
    html = page(client, "/search/")
    assert "Type what you are looking for" in html
    assert 'href="/c/clothing/"' in html


def test_suggestions_fragment_lists_links(client: Client, catalog: SampleCatalog) -> None:
    html = page(client, "/search/suggest/?q=blue", HTTP_HX_REQUEST="true")
    assert "<html" not in html
    assert 'href="/p/bluetooth-headphones/"' in html
    assert "Bluetooth Headphones" in html
    assert page(client, "/search/suggest/?q=b").strip() == "", "one letter is too little to suggest from"


# Product page -------------------------------------------------------------------------------------------------


def test_product_page_shows_gallery_details_and_breadcrumbs(client: Client, catalog: SampleCatalog) -> None:
    html = page(client, "/p/bluetooth-headphones/")
    assert '<h1 class="product__name">Bluetooth Headphones</h1>' in html
    assert "Sonora" in html
    assert "$99.00" in html and "$129.00" in html
    assert "30 hours of battery" in html
    assert "<dt>Connectivity</dt><dd>Bluetooth</dd>" in html
    main = tags(html, "img", id="gallery-main")[0]
    assert main["alt"] == "Black Bluetooth headphones"
    assert main["width"] == "400"
    assert len(tags(html, "a", class_="gallery__thumb")) == 2
    crumbs = html.split('aria-label="Breadcrumb"', 1)[1].split("</nav>", 1)[0]
    assert 'href="/c/electronics/"' in crumbs and 'href="/c/audio/"' in crumbs
    assert "data-variant-stock>In stock<" in html
    # The add-to-cart form carries a CSRF token, so it is fetched apart from this shared page.
    assert "<form" not in html.split('id="buy-box"', 1)[1].split("</div>", 1)[0]


def test_product_json_ld_for_a_single_variant(client: Client, catalog: SampleCatalog) -> None:
    data = structured_data(page(client, "/p/bluetooth-headphones/"))
    assert data["@context"] == "https://schema.org"
    assert data["@type"] == "Product"
    assert data["name"] == "Bluetooth Headphones"
    assert data["brand"] == {"@type": "Brand", "name": "Sonora"}
    assert data["sku"] == "SON-BT-1"
    assert data["description"].startswith("Wireless over-ear headphones")
    assert len(data["image"]) == 2
    assert all(url.startswith("http://testserver/") for url in data["image"])
    offer = data["offers"]
    assert offer["@type"] == "Offer"
    assert Decimal(offer["price"]) == Decimal("99.00")
    assert offer["priceCurrency"] == "USD"
    assert offer["availability"] == "https://schema.org/InStock"
    assert offer["url"] == "http://testserver/p/bluetooth-headphones/"

    sold_out = structured_data(page(client, "/p/wired-earbuds/"))
    assert sold_out["offers"]["availability"] == "https://schema.org/OutOfStock"


def test_product_json_ld_for_variants_is_an_aggregate_offer(client: Client, catalog: SampleCatalog) -> None:
    offers = structured_data(page(client, "/p/organic-cotton-t-shirt/"))["offers"]
    assert offers["@type"] == "AggregateOffer"
    assert Decimal(offers["lowPrice"]) == Decimal("15.00")
    assert Decimal(offers["highPrice"]) == Decimal("17.00")
    assert offers["offerCount"] == 5
    assert offers["availability"] == "https://schema.org/InStock"
    by_sku = {offer["sku"]: offer for offer in offers["offers"]}
    assert by_sku["BAS-TS-L-RED"]["availability"] == "https://schema.org/OutOfStock"
    assert Decimal(by_sku["BAS-TS-L-BLUE"]["price"]) == Decimal("17.00")


def test_json_ld_cannot_be_broken_out_of(client: Client, media: Path) -> None:
    category = Category.objects.create(name="Misc", slug="misc")
    product = make_product(
        category,
        "Tricky",
        "tricky",
        brand="X",
        description="</script><script>alert(1)</script>",
        variants=[{"sku": "TR-1", "price": "1.00"}],
    )
    refresh_products([product.pk])
    html = page(client, "/p/tricky/")
    assert "<script>alert(1)" not in html
    assert structured_data(html)["description"] == "</script><script>alert(1)</script>"


def test_variant_picker_groups_options_and_embeds_variant_data(client: Client, catalog: SampleCatalog) -> None:
    html = page(client, "/p/organic-cotton-t-shirt/")
    sizes = [radio["value"] for radio in tags(html, "input", type="radio", name="size")]
    colours = [radio["value"] for radio in tags(html, "input", type="radio", name="colour")]
    assert sizes == ["S", "M", "L"]
    assert colours == ["Red", "Blue"]
    assert '<legend class="option-group__title">Size</legend>' in html
    # The first variant in stock is chosen to start with.
    assert "checked" in tags(html, "input", name="size", value="S")[0]
    assert "checked" in tags(html, "input", name="colour", value="Red")[0]
    match = re.search(r'<script id="variant-data" type="application/json">(.*?)</script>', html, re.S)
    assert match
    variants = {variant["sku"]: variant for variant in json.loads(match.group(1))}
    assert variants["BAS-TS-S-RED"]["stock"] == "In stock"
    assert variants["BAS-TS-M-RED"]["stock"] == "Only 3 left"
    assert variants["BAS-TS-L-RED"]["stock"] == "Out of stock"
    assert variants["BAS-TS-L-BLUE"]["price"] == "$17.00"
    assert variants["BAS-TS-M-BLUE"]["options"] == {"size": "M", "colour": "Blue"}


def test_inactive_variants_are_not_offered(client: Client, catalog: SampleCatalog) -> None:
    Variant.objects.filter(sku="BAS-TS-L-BLUE").update(is_active=False)
    refresh_products([catalog.tshirt.pk])
    html = page(client, "/p/organic-cotton-t-shirt/")
    assert "BAS-TS-L-BLUE" not in html


# Not found ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/p/no-such-thing/", "/c/no-such-thing/", "/nowhere/"])
def test_unknown_pages_get_the_404_page(client: Client, catalog: SampleCatalog, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    html = response.content.decode()
    assert "We couldn't find that page" in html
    assert tags(html, "input", id="search-q"), "the 404 page keeps the layout with its search box"


def test_inactive_product_is_not_found(client: Client, catalog: SampleCatalog) -> None:
    Product.objects.filter(pk=catalog.hoodie.pk).update(is_active=False)
    refresh_products([catalog.hoodie.pk])
    assert client.get("/p/fleece-hoodie/").status_code == 404


# Page cache ---------------------------------------------------------------------------------------------------


def test_anonymous_pages_are_cached_until_the_catalog_changes(
    client: Client, catalog: SampleCatalog, django_assert_num_queries: Any
) -> None:
    first = client.get("/p/bluetooth-headphones/")
    assert first["X-Page-Cache"] == "miss"
    with django_assert_num_queries(0):
        second = client.get("/p/bluetooth-headphones/")
    assert second["X-Page-Cache"] == "hit"
    assert second.content == first.content
    assert "HX-Request" in second["Vary"]

    Variant.objects.filter(sku="SON-BT-1").update(price=Decimal("89.00"))
    refresh_products([catalog.headphones.pk])
    third = client.get("/p/bluetooth-headphones/")
    assert third["X-Page-Cache"] == "miss"
    assert "$89.00" in third.content.decode()


def test_full_page_and_htmx_fragment_are_cached_apart(client: Client, catalog: SampleCatalog) -> None:
    client.get("/c/electronics/")
    fragment = client.get("/c/electronics/", HTTP_HX_REQUEST="true")
    assert fragment["X-Page-Cache"] == "miss"
    assert "<html" not in fragment.content.decode()
    full = client.get("/c/electronics/")
    assert full["X-Page-Cache"] == "hit"
    assert "<html" in full.content.decode()


def test_cached_pages_carry_no_csrf_token_or_cookie(client: Client, catalog: SampleCatalog) -> None:
    for url in ["/", "/c/electronics/", "/search/?q=bluetooth", "/p/bluetooth-headphones/"]:
        for _ in range(2):
            response = client.get(url)
            html = response.content.decode()
            assert "csrfmiddlewaretoken" not in html
            assert "X-CSRFToken" not in html
            assert not response.cookies, url
        assert response["X-Page-Cache"] == "hit"


def test_signed_in_shoppers_get_fresh_pages(client: Client, catalog: SampleCatalog, shopper: User) -> None:
    client.get("/")
    assert client.get("/")["X-Page-Cache"] == "hit"
    client.force_login(shopper)
    response = client.get("/")
    html = response.content.decode()
    assert "X-Page-Cache" not in response
    assert "Log out" in html
    assert f'action="{reverse("accounts:logout")}"' in html
    assert "csrfmiddlewaretoken" in html
    assert "Cookie" in response["Vary"]
    client.logout()
    html = client.get("/").content.decode()
    assert "Log out" not in html and "csrfmiddlewaretoken" not in html


def test_pending_messages_are_shown_not_cached(client: Client, catalog: SampleCatalog) -> None:
    client.get("/")
    client.cookies["messages"] = CookieStorage(RequestFactory().get("/"))._encode(  # type: ignore[attr-defined]
        [Message(constants.SUCCESS, "You have been signed out.")]
    )
    response = client.get("/")
    assert "X-Page-Cache" not in response
    assert "You have been signed out." in response.content.decode()
    # The message belongs to this visitor only; everyone else still gets the shared page.
    other = Client().get("/")
    assert other["X-Page-Cache"] == "hit"
    assert "You have been signed out." not in other.content.decode()


# Query counts -------------------------------------------------------------------------------------------------


@pytest.fixture
def big_catalog(media: Path) -> Category:
    """Enough products with images and variants to fill a page, so that N+1 queries would show."""
    shelf = Category.objects.create(name="Shelf", slug="shelf")
    products = []
    for number in range(30):
        product = make_product(
            shelf,
            f"Mug {number}",
            f"mug-{number}",
            brand=f"Brand {number % 4}",
            attributes={"material": "Stoneware"},
            variants=[
                {"sku": f"MUG-{number}-S", "options": {"size": "S"}, "price": "9.00"},
                {"sku": f"MUG-{number}-L", "options": {"size": "L"}, "price": "12.00", "compare_at": "14.00"},
            ],
        )
        add_image(product, (number * 8 % 255, 90, 120))
        products.append(product)
    refresh_products([product.pk for product in products])
    return shelf


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/c/shelf/",
        "/c/shelf/?page_size=100",
        "/c/shelf/?brand=Brand+1&attr_size=L&sort=price",
        "/search/?q=mug",
        "/search/?q=mug&page_size=100",
        "/p/mug-3/",
        "/search/suggest/?q=mu",
    ],
)
def test_uncached_pages_run_a_bounded_number_of_queries(
    client: Client, big_catalog: Category, django_assert_max_num_queries: Any, url: str
) -> None:
    with django_assert_max_num_queries(10):
        response = client.get(url)
    assert response.status_code == 200
    assert response["X-Page-Cache"] == "miss"


def test_signed_in_pages_run_a_bounded_number_of_queries(
    client: Client, big_catalog: Category, shopper: User, django_assert_max_num_queries: Any
) -> None:
    client.force_login(shopper)
    with django_assert_max_num_queries(10):
        assert client.get("/c/shelf/?page_size=100").status_code == 200
