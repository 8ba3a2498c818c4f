"""An index in the best-selling order, so that a page of best sellers is read in order instead of sorted.

The `id` column completes the sort key on PostgreSQL (SQLite appends the row id to every index anyway).
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_product_facet_index")]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX catalog_product_best_selling ON catalog_product (sales_count, created_at, id)",
            "DROP INDEX catalog_product_best_selling",
        ),
    ]
