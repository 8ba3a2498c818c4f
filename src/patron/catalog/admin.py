"""Back-office for the catalog: the category tree and products with their variants and images.

Saving or deleting here goes through the same upkeep as the services: derived prices and stock,
attribute rows, the search index and the catalog version that page caches depend on.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from patron.catalog import renditions, services
from patron.catalog.models import Category, Product, ProductImage, Variant


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin[Category]):
    list_display = ("indented_name", "slug", "parent", "position")
    list_select_related = ("parent",)
    search_fields = ("name", "slug")
    ordering = ("path", "position", "name")
    prepopulated_fields = {"slug": ("name",)}
    autocomplete_fields = ("parent",)
    fields = ("name", "slug", "parent", "position", "description")

    @admin.display(description="name", ordering="path")
    def indented_name(self, category: Category) -> str:
        return "\u2003" * category.depth + category.name


class VariantInline(admin.TabularInline[Variant, Product]):
    model = Variant
    extra = 0
    fields = ("sku", "options", "price", "compare_at_price", "stock", "position", "is_active")


class ProductImageInline(admin.TabularInline[ProductImage, Product]):
    model = ProductImage
    extra = 0
    fields = ("image", "alt_text", "position", "width", "height")
    readonly_fields = ("width", "height")


class InStockFilter(admin.SimpleListFilter):
    title = "stock"
    parameter_name = "in_stock"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "In stock"), ("no", "Out of stock")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(total_stock__gt=0)
        if self.value() == "no":
            return queryset.filter(total_stock__lte=0)
        return queryset


class BrandFilter(admin.SimpleListFilter):
    title = "brand"
    parameter_name = "brand"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        brands = Product.objects.exclude(brand="").order_by("brand").values_list("brand", flat=True).distinct()
        return [(brand, brand) for brand in brands]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(brand=self.value()) if self.value() else queryset


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin[Product]):
    list_display = ("name", "brand", "category", "min_price", "total_stock", "sales_count", "is_active")
    list_select_related = ("category",)
    list_filter = (("category", admin.RelatedOnlyFieldListFilter), BrandFilter, "is_active", InStockFilter)
    search_fields = ("name", "brand", "variants__sku")
    prepopulated_fields = {"slug": ("name",)}
    autocomplete_fields = ("category",)
    readonly_fields = ("min_price", "max_price", "total_stock", "sales_count", "archived_at", "created_at")
    fieldsets = (
        (None, {"fields": ("name", "slug", "brand", "category", "description", "attributes", "is_active")}),
        (
            "Derived from variants and orders",
            {"fields": ("min_price", "max_price", "total_stock", "sales_count", "archived_at", "created_at")},
        ),
    )
    inlines = (VariantInline, ProductImageInline)
    actions = ("refresh_selected",)

    def save_related(
        self,
        request: HttpRequest,
        form: ModelForm[Product],
        formsets: Any,
        change: bool,
    ) -> None:
        super().save_related(request, form, formsets, change)
        # Variants and pictures are saved with the inlines, so derived prices, stock, search and the pictures'
        # smaller copies follow only now.
        services.refresh_products([form.instance.pk])
        renditions.request_renditions([form.instance.pk])

    def delete_model(self, request: HttpRequest, obj: Product) -> None:
        services.delete_products([obj.pk])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        services.delete_products(queryset.values_list("pk", flat=True))

    @admin.action(description="Recompute prices, stock and search for the selected products")
    def refresh_selected(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        services.refresh_products(ids)
        services.refresh_sales_counts(ids)
        self.message_user(request, f"Refreshed {len(ids)} products.")
