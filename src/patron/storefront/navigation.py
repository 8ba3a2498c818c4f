"""The category tree as the storefront shows it, cached per catalog version so that every page can carry it."""

from __future__ import annotations

from django.core.cache import cache

from patron.catalog.models import Category
from patron.catalog.services import catalog_version, category_tree

TREE_CACHE_SECONDS = 3600


def cached_category_tree() -> list[Category]:
    key = f"storefront:tree:{catalog_version()}"
    tree: list[Category] | None = cache.get(key)
    if tree is None:
        tree = category_tree()
        cache.set(key, tree, TREE_CACHE_SECONDS)
    return tree


def root_categories() -> list[Category]:
    return [category for category in cached_category_tree() if category.parent_id is None]


def child_categories(category: Category) -> list[Category]:
    return [child for child in cached_category_tree() if child.parent_id == category.pk]
