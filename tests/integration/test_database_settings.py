"""PostgreSQL connections prepare the statements they run often, unless the merchant's pooler cannot keep them."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are a PostgreSQL setting")
def test_a_statement_run_often_is_prepared_once_and_reused() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
        for number in range(8):
            cursor.execute("SELECT %s + 1 AS next_number", [number])
            assert cursor.fetchone() == (number + 1,)
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("next_number" in statement for statement in prepared), prepared
