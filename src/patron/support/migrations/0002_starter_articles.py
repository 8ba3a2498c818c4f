"""A new store starts with a knowledge base of editable articles (support/data/articles.yaml)."""

from pathlib import Path

import yaml
from django.db import migrations
from django.utils import timezone

ARTICLES = Path(__file__).resolve().parent.parent / "data" / "articles.yaml"


def _entries():
    return yaml.safe_load(ARTICLES.read_text(encoding="utf-8")) or []


def create(apps, schema_editor):
    Article = apps.get_model("support", "Article")
    existing = set(Article.objects.values_list("slug", flat=True))
    Article.objects.bulk_create(
        Article(
            slug=entry["slug"],
            title=entry["title"],
            body=entry["body"].strip(),
            keywords=entry.get("keywords", ""),
            updated_at=timezone.now(),
        )
        for entry in _entries()
        if entry["slug"] not in existing
    )


def remove(apps, schema_editor):
    Article = apps.get_model("support", "Article")
    Article.objects.filter(slug__in=[entry["slug"] for entry in _entries()]).delete()


class Migration(migrations.Migration):
    dependencies = [("support", "0001_initial")]

    operations = [migrations.RunPython(create, remove)]
