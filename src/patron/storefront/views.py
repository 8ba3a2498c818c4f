"""Storefront pages: home, category listing, search, product page and search suggestions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.http import require_safe

from patron.catalog.models import Category, Product, Variant
from patron.catalog.services import (
    SORT_OPTIONS,
    Facets,
    FacetValue,
    ProductFilters,
    ProductPage,
    bestsellers,
    category_ancestors,
    get_category,
    get_product,
    new_arrivals,
    parse_filters,
    search_products,
    suggest,
)
from patron.errors import ValidationFailed
from patron.page_cache import cache_page_for_visitors, is_partial
from patron.reviews.presentation import product_reviews
from patron.storefront.navigation import cached_category_tree, child_categories, root_categories
from patron.storefront.templatetags.storefront import active_variants, money, stock_level, stock_text

HOME_SHELF_SIZE = 8
FACET_VALUES_SHOWN = 8
SUGGEST_MIN_LENGTH = 2
REPEATABLE_PARAMS = ("brand",)
ATTRIBUTE_PARAM_PREFIX = "attr_"
SCHEMA_IN_STOCK = "https://schema.org/InStock"
SCHEMA_OUT_OF_STOCK = "https://schema.org/OutOfStock"


@require_safe
@cache_page_for_visitors()
def home(request: HttpRequest) -> HttpResponse:
    context = {
        "categories": root_categories(),
        "bestsellers": bestsellers(HOME_SHELF_SIZE),
        "new_arrivals": new_arrivals(HOME_SHELF_SIZE),
    }
    return render(request, "storefront/home.html", context)


# Listing pages (category and search) --------------------------------------------------------------------------


@dataclass
class Listing:
    filters: ProductFilters
    page: ProductPage
    ignored_filters: bool


def _filter_params(request: HttpRequest) -> dict[str, str | list[str]]:
    """GET parameters in the shape `parse_filters` reads; blank form fields mean "no filter"."""
    params: dict[str, str | list[str]] = {}
    for name in request.GET:
        values = [value.strip() for value in request.GET.getlist(name) if value.strip()]
        if not values:
            continue
        repeatable = name in REPEATABLE_PARAMS or name.startswith(ATTRIBUTE_PARAM_PREFIX)
        params[name] = values if repeatable else values[-1]
    return params


def _parse_leniently(params: dict[str, str | list[str]], error: ValidationFailed) -> ProductFilters:
    """Drop the filters that did not parse (a hand-edited or stale URL) and keep the rest of the request."""
    without_bad = {name: value for name, value in params.items() if name not in error.fields}
    essentials = {name: value for name, value in params.items() if name in ("q", "category")}
    for candidate in (without_bad, essentials):
        try:
            return parse_filters(candidate)
        except ValidationFailed:
            continue
    return ProductFilters()


def _search(params: dict[str, str | list[str]]) -> Listing:
    try:
        filters, ignored = parse_filters(params), False
    except ValidationFailed as exc:
        filters, ignored = _parse_leniently(params, exc), True
    page = search_products(filters)
    return Listing(filters=filters, page=page, ignored_filters=ignored)


def _page_numbers(page: int, num_pages: int, radius: int = 1) -> list[int | None]:
    """Page links around the current page plus the first and last; None marks a gap."""
    wanted = {1, num_pages, *range(page - radius, page + radius + 1)}
    numbers: list[int | None] = []
    for number in sorted(n for n in wanted if 1 <= n <= num_pages):
        if numbers and numbers[-1] is not None and number - numbers[-1] > 1:
            numbers.append(None)
        numbers.append(number)
    return numbers


@dataclass
class FacetGroup:
    """One filter of the listing: its form field, its title and its values (the long tail folded away)."""

    field: str
    title: str
    shown: list[FacetValue]
    more: list[FacetValue]


def _facet_groups(facets: Facets) -> list[FacetGroup]:
    candidates = [("brand", "Brand", facets.brands)] + [
        (f"{ATTRIBUTE_PARAM_PREFIX}{name}", name.replace("_", " ").capitalize(), values)
        for name, values in facets.attributes.items()
    ]
    groups = []
    for field, title, values in candidates:
        if not values:
            continue
        head, tail = values[:FACET_VALUES_SHOWN], values[FACET_VALUES_SHOWN:]
        # A chosen value stays in sight even when it is rare.
        shown = head + [value for value in tail if value.selected]
        more = [value for value in tail if not value.selected]
        groups.append(FacetGroup(field, title, shown, more))
    return groups


def _category_choices(filters: ProductFilters, page: ProductPage) -> list[FacetValue]:
    """The chosen category (so that it can be seen and undone) followed by the ones to narrow down to."""
    choices = []
    if filters.category:
        chosen = next((c for c in cached_category_tree() if c.slug == filters.category), None)
        if chosen is not None:
            choices.append(FacetValue(chosen.slug, chosen.name, page.total, True))
    return choices + [facet for facet in page.facets.categories if facet.value != filters.category]


def _listing_context(request: HttpRequest, listing: Listing, action: str, *, category_facet: bool) -> dict[str, Any]:
    filters, page = listing.filters, listing.page
    sort_options = {key: label for key, label in SORT_OPTIONS.items() if filters.q or key != "relevance"}
    current_sort = filters.sort or ("relevance" if filters.q else "newest")
    has_filters = bool(
        filters.brands
        or filters.attributes
        or filters.in_stock
        or filters.min_price is not None
        or filters.max_price is not None
        or (category_facet and filters.category)
    )
    return {
        "filters": filters,
        "results": page,
        "products": page.products,
        "facets": page.facets,
        "facet_groups": _facet_groups(page.facets),
        "category_choices": _category_choices(filters, page) if category_facet else [],
        "page_numbers": _page_numbers(page.page, page.num_pages) if page.num_pages > 1 else [],
        "sort_options": sort_options,
        "current_sort": current_sort,
        "has_filters": has_filters,
        "ignored_filters": listing.ignored_filters,
        "min_price_value": request.GET.get("min_price", ""),
        "max_price_value": request.GET.get("max_price", ""),
        "listing_action": action,
        "partial": is_partial(request),
    }


def _render_listing(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    if is_partial(request):
        return render(request, "storefront/_catalog.html", context)
    return render(request, template, context)


@require_safe
@cache_page_for_visitors()
def category(request: HttpRequest, slug: str) -> HttpResponse:
    current = get_category(slug)
    params = _filter_params(request)
    params["category"] = current.slug
    listing = _search(params)
    action = reverse("storefront:category", args=[current.slug])
    context = _listing_context(request, listing, action, category_facet=False)
    if not is_partial(request):
        breadcrumbs = _breadcrumbs(current)
        context.update(
            category=current,
            breadcrumbs=breadcrumbs,
            active_category_slug=breadcrumbs[0].slug,
            subcategories=_subcategories(current, listing.page),
        )
    return _render_listing(request, "storefront/category.html", context)


@dataclass
class SubCategory:
    category: Category
    count: int | None


def _subcategories(current: Category, page: ProductPage) -> list[SubCategory]:
    counts = {facet.value: facet.count for facet in page.facets.categories}
    return [SubCategory(child, counts.get(child.slug)) for child in child_categories(current)]


def _breadcrumbs(current: Category) -> list[Category]:
    trail = category_ancestors(current)
    if not trail or trail[-1].pk != current.pk:
        trail = [*trail, current]
    return trail


@require_safe
@cache_page_for_visitors()
def search(request: HttpRequest) -> HttpResponse:
    params = _filter_params(request)
    query = str(params.get("q", ""))
    searching = bool(params.keys() - {"page", "sort", "page_size"})
    context: dict[str, Any] = {"query": query, "searching": searching}
    if searching:
        listing = _search(params)
        context.update(_listing_context(request, listing, reverse("storefront:search"), category_facet=True))
        if listing.page.total == 0 and not is_partial(request):
            context["fallback_categories"] = root_categories()
            context["fallback_products"] = bestsellers(4)
    else:
        context["fallback_categories"] = root_categories()
    return _render_listing(request, "storefront/search.html", context)


@require_safe
@cache_page_for_visitors(anonymous_only=False)
def suggestions(request: HttpRequest) -> HttpResponse:
    prefix = request.GET.get("q", "").strip()
    found = suggest(prefix) if len(prefix) >= SUGGEST_MIN_LENGTH else []
    return render(request, "storefront/_suggestions.html", {"suggestions": found, "prefix": prefix})


# Product page -------------------------------------------------------------------------------------------------


@dataclass
class OptionValue:
    value: str
    input_id: str
    checked: bool


@dataclass
class OptionGroup:
    name: str
    label: str
    values: list[OptionValue]


def _initial_variant(variants: list[Variant]) -> Variant | None:
    return next((variant for variant in variants if variant.stock > 0), variants[0] if variants else None)


def _option_groups(variants: list[Variant], initial: Variant | None) -> list[OptionGroup]:
    """Radio groups for the options that differ between variants, values in the merchant's variant order."""
    values_by_option: dict[str, list[str]] = {}
    for variant in variants:
        for name, value in variant.options.items():
            seen = values_by_option.setdefault(name, [])
            if str(value) not in seen:
                seen.append(str(value))
    chosen = {name: str(value) for name, value in initial.options.items()} if initial else {}
    return [
        OptionGroup(
            name=name,
            label=name.replace("_", " ").capitalize(),
            values=[
                OptionValue(value, f"option-{slugify(name)}-{index}", chosen.get(name) == value)
                for index, value in enumerate(values)
            ],
        )
        for name, values in values_by_option.items()
        if len(variants) > 1
    ]


def _variant_data(variant: Variant) -> dict[str, Any]:
    return {
        "id": variant.pk,
        "sku": variant.sku,
        "options": {name: str(value) for name, value in variant.options.items()},
        "price": money(variant.price),
        "compare_at": money(variant.compare_at_price) if variant.on_sale else "",
        "stock": stock_text(variant.stock),
        "level": stock_level(variant.stock),
        "in_stock": variant.stock > 0,
    }


def _offer(request: HttpRequest, product: Product, variant: Variant) -> dict[str, Any]:
    return {
        "@type": "Offer",
        "sku": variant.sku,
        "price": str(variant.price),
        "priceCurrency": settings.STORE_CURRENCY,
        "availability": SCHEMA_IN_STOCK if variant.stock > 0 else SCHEMA_OUT_OF_STOCK,
        "url": request.build_absolute_uri(reverse("storefront:product", args=[product.slug])),
    }


def _structured_data(request: HttpRequest, product: Product, variants: list[Variant]) -> dict[str, Any]:
    """schema.org Product for search engines: one Offer, or an AggregateOffer over the variants."""
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": product.name,
        "description": product.description,
        "image": [request.build_absolute_uri(image.image.url) for image in product.images.all()],
        "url": request.build_absolute_uri(reverse("storefront:product", args=[product.slug])),
    }
    if product.brand:
        data["brand"] = {"@type": "Brand", "name": product.brand}
    if product.category_id:
        data["category"] = product.category.name
    if len(variants) == 1:
        data["sku"] = variants[0].sku
        data["offers"] = _offer(request, product, variants[0])
    elif variants:
        offers = [_offer(request, product, variant) for variant in variants]
        prices = [variant.price for variant in variants]
        data["sku"] = variants[0].sku
        data["offers"] = {
            "@type": "AggregateOffer",
            "priceCurrency": settings.STORE_CURRENCY,
            "price": str(min(prices)),
            "lowPrice": str(min(prices)),
            "highPrice": str(max(prices)),
            "offerCount": len(offers),
            "availability": SCHEMA_IN_STOCK if any(v.stock > 0 for v in variants) else SCHEMA_OUT_OF_STOCK,
            "url": data["url"],
            "offers": offers,
        }
    return data


@require_safe
@cache_page_for_visitors()
def product(request: HttpRequest, slug: str) -> HttpResponse:
    item = get_product(slug)
    if item.slug != slug:
        raise Http404("No such product.")
    variants = active_variants(item)
    initial = _initial_variant(variants)
    breadcrumbs = _breadcrumbs(item.category)
    reviews = product_reviews(request, item)
    context = {
        **reviews.context,
        "product": item,
        "images": list(item.images.all()),
        "variants": variants,
        "variant": initial,
        "option_groups": _option_groups(variants, initial),
        "variant_data": [_variant_data(variant) for variant in variants],
        "attributes": sorted(item.attributes.items()) if isinstance(item.attributes, dict) else [],
        "breadcrumbs": breadcrumbs,
        "active_category_slug": breadcrumbs[0].slug,
        "structured_data": {**_structured_data(request, item, variants), **reviews.structured_data},
    }
    return render(request, "storefront/product.html", context)
