"""/api/products: product search with filters and facets, suggestions, and staff writes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from ninja.decorators import decorate_view
from pydantic import Field, StringConstraints, model_validator

from patron.accounts.auth import JWTAuth
from patron.accounts.models import User
from patron.catalog import renditions, services
from patron.catalog.models import Product, Variant
from patron.page_cache import cache_page_for_visitors

router = Router(tags=["products"])
jwt_auth = JWTAuth()

Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
Sku = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
OptionName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
OptionValue = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Stock = Annotated[int, Field(ge=0, le=2_147_483_647)]
SortKey = Literal["relevance", "price", "-price", "newest", "best_selling"]

LIST_DESCRIPTION = """Active products matching a text query and filters, one page at a time, with facet counts.

- `q`: words to find in name, brand, category, description and attribute values; the last word also
  matches as a prefix. Misspelt words are corrected (`corrected_query` tells what was searched).
- `category`: a category slug; products of its sub-categories are included.
- `min_price`, `max_price`: bounds of the product's lowest variant price.
- `brand`: repeatable (`brand=Acme&brand=Zed` = either brand).
- `attr_<name>`: repeatable attribute or variant option filter, e.g. `attr_colour=Red&attr_colour=Blue&attr_size=M`
  (red or blue, and size M). Attribute names are case-insensitive, values exact.
- `in_stock=1`: only products that can be bought now.
- `sort`: relevance (default with `q`), price, -price, newest (default without `q`), best_selling.
- `page` (from 1; a page past the last one is empty) and `page_size` (default 24, at most 100).

Each facet counts the results as if its own selection were cleared, so clients can show what another
brand or colour would add; `categories` lists the sub-categories of `category` (root categories without it).
"""


def _anyone(request: HttpRequest) -> bool:
    """Lets requests without a token through; staff tokens still identify staff."""
    return True


def _staff(request: HttpRequest) -> bool:
    user = getattr(request, "auth", None)
    return isinstance(user, User) and user.is_active and user.is_staff


class CategoryRef(Schema):
    id: int
    name: str
    slug: str


class RenditionOut(Schema):
    width: int
    url: str


class ImageOut(Schema):
    url: str
    alt_text: str
    width: int | None
    height: int | None
    renditions: list[RenditionOut] = Field(
        description="smaller WebP copies, narrowest first, to pick one by the screen's size; empty until made"
    )

    @staticmethod
    def resolve_url(obj: Any) -> str:
        return str(obj.image.url)

    @staticmethod
    def resolve_renditions(obj: Any) -> list[dict[str, Any]]:
        return [
            {"width": width, "url": url} for width, url in renditions.rendition_urls(obj.image.name, obj.renditions)
        ]


class VariantOut(Schema):
    id: int
    sku: str
    options: dict[str, str]
    price: Decimal
    compare_at_price: Decimal | None
    stock: int
    is_active: bool
    on_sale: bool


class ProductOut(Schema):
    id: int
    name: str
    slug: str
    description: str
    brand: str
    category: CategoryRef
    attributes: dict[str, Any]
    is_active: bool
    archived_at: datetime | None
    min_price: Decimal
    max_price: Decimal
    total_stock: int
    in_stock: bool
    sales_count: int
    created_at: datetime
    updated_at: datetime
    variants: list[VariantOut]
    images: list[ImageOut]

    @staticmethod
    def resolve_variants(obj: Product, context: dict[str, Any]) -> list[Variant]:
        """Shoppers see the variants on sale; staff see every variant."""
        variants = list(obj.variants.all())
        return variants if _staff(context["request"]) else [v for v in variants if v.is_active]


class FacetValueOut(Schema):
    value: str
    label: str
    count: int
    selected: bool


class FacetsOut(Schema):
    categories: list[FacetValueOut]
    brands: list[FacetValueOut]
    attributes: dict[str, list[FacetValueOut]]
    in_stock_count: int
    price_min: Decimal | None
    price_max: Decimal | None


class ProductListOut(Schema):
    items: list[ProductOut]
    total: int
    page: int
    page_size: int
    num_pages: int
    facets: FacetsOut
    corrected_query: str | None

    @staticmethod
    def resolve_items(obj: services.ProductPage) -> list[Product]:
        return obj.products


class SuggestionOut(Schema):
    label: str
    url: str
    kind: Literal["product", "category", "brand"]


class VariantIn(Schema):
    sku: Sku | None = Field(None, description="Generated when omitted.")
    options: dict[OptionName, OptionValue] = Field(default_factory=dict, max_length=10)
    price: Money
    compare_at_price: Money | None = None
    stock: Stock = 0
    is_active: bool = True


class ProductIn(Schema):
    """A product with its variants; a product without options may give `price` (and `sku`, `stock`) instead."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    slug: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = Field(
        None, description="Made unique from the name when omitted."
    )
    description: Annotated[str, StringConstraints(max_length=20_000)] = ""
    brand: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    category: int | Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=140)] = Field(
        description="Category id or slug."
    )
    attributes: dict[OptionName, str | int | float | bool] = Field(default_factory=dict, max_length=30)
    is_active: bool = True
    variants: list[VariantIn] = Field(default_factory=list, max_length=100)
    sku: Sku | None = None
    price: Money | None = None
    compare_at_price: Money | None = None
    stock: Stock = 0

    @model_validator(mode="after")
    def _variants_or_price(self) -> ProductIn:
        if not self.variants and self.price is None:
            raise ValueError("Give the product's variants, or its price if it has no options.")
        if self.variants and self.price is not None:
            raise ValueError("Give either variants or a price, not both.")
        return self

    def to_data(self) -> services.ProductData:
        variants = [
            services.VariantData(
                sku=variant.sku or "",
                price=variant.price,
                options=variant.options,
                compare_at_price=variant.compare_at_price,
                stock=variant.stock,
                is_active=variant.is_active,
            )
            for variant in self.variants
        ] or [
            services.VariantData(
                sku=self.sku or "",
                price=self.price or Decimal("0.00"),
                compare_at_price=self.compare_at_price,
                stock=self.stock,
            )
        ]
        return services.ProductData(
            name=self.name,
            category=self.category,
            variants=variants,
            slug=self.slug or "",
            description=self.description,
            brand=self.brand,
            attributes={key: str(value) for key, value in self.attributes.items()},
            is_active=self.is_active,
        )


# The collection answers with and without the trailing slash, so that clients never meet a redirect.
@router.get("", response=ProductListOut, include_in_schema=False)
@router.get("/", response=ProductListOut, summary="Search and filter products", description=LIST_DESCRIPTION)
@decorate_view(cache_page_for_visitors())
def list_products(
    request: HttpRequest,
    q: Annotated[str, Query(max_length=1000)] = "",
    category: str | None = None,
    min_price: Annotated[Decimal | None, Query(ge=0)] = None,
    max_price: Annotated[Decimal | None, Query(ge=0)] = None,
    brand: Annotated[list[str] | None, Query()] = None,
    in_stock: bool = False,
    sort: SortKey | None = None,
    page: Annotated[int, Query(ge=1, le=services.MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(ge=1, description="Capped at 100.")] = services.DEFAULT_PAGE_SIZE,
) -> services.ProductPage:
    # The declared parameters document the API; one parser reads them (and attr_*) as the storefront does.
    return services.search_products(services.parse_filters(request.GET))


@router.get("/suggest", response=list[SuggestionOut], summary="Search-as-you-type suggestions")
@decorate_view(cache_page_for_visitors())
def suggest(
    request: HttpRequest,
    q: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=20)] = 8,
) -> list[services.Suggestion]:
    return services.suggest(q, limit)


@router.get(
    "/{int:product_id}",
    response=ProductOut,
    auth=[jwt_auth, _anyone],
    summary="One product (staff also see inactive ones)",
)
@decorate_view(cache_page_for_visitors())
def get_product(request: HttpRequest, product_id: int) -> Product:
    return services.get_product(product_id, include_inactive=_staff(request))


@router.post("", response={201: ProductOut}, auth=jwt_auth, include_in_schema=False)
@router.post("/", response={201: ProductOut}, auth=jwt_auth, summary="Create a product (staff)")
def create_product(request: HttpRequest, payload: ProductIn) -> Status[Product]:
    return Status(201, services.create_product(request.auth, payload.to_data()))  # type: ignore[attr-defined]


@router.put("/{int:product_id}", response=ProductOut, auth=jwt_auth, summary="Replace a product (staff)")
def update_product(request: HttpRequest, product_id: int, payload: ProductIn) -> Product:
    return services.update_product(request.auth, product_id, payload.to_data())  # type: ignore[attr-defined]


@router.delete(
    "/{int:product_id}",
    response={200: ProductOut, 204: None},
    auth=jwt_auth,
    summary="Delete a product (staff); one that was ordered is archived and returned instead",
)
def delete_product(request: HttpRequest, product_id: int) -> Status[Product | None]:
    archived = services.delete_product(request.auth, product_id)  # type: ignore[attr-defined]
    return Status(200, archived) if archived is not None else Status(204, None)
