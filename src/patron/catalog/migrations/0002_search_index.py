"""Full-text search index and typo-correction index, built with each database's own tools.

PostgreSQL: a table of weighted tsvectors (GIN) and pg_trgm with a trigram GIN index on the vocabulary.
SQLite: an FTS5 table (rowid = product id) and an FTS5 trigram table mirroring the vocabulary.
Each operation runs only on its own database, so one migration history serves both.
"""

from django.db import migrations

POSTGRESQL_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    """
    CREATE TABLE catalog_product_search (
        product_id bigint PRIMARY KEY,
        name text NOT NULL DEFAULT '',
        brand text NOT NULL DEFAULT '',
        category text NOT NULL DEFAULT '',
        body text NOT NULL DEFAULT '',
        document tsvector GENERATED ALWAYS AS (
            setweight(to_tsvector('simple'::regconfig, name), 'A')
            || setweight(to_tsvector('simple'::regconfig, brand), 'B')
            || setweight(to_tsvector('simple'::regconfig, category), 'C')
            || setweight(to_tsvector('simple'::regconfig, body), 'D')
        ) STORED
    )
    """,
    "CREATE INDEX catalog_product_search_document ON catalog_product_search USING gin (document)",
    "CREATE INDEX catalog_searchterm_term_trgm ON catalog_searchterm USING gin (term gin_trgm_ops)",
    # Rows of deleted products go with them; a foreign key would stop Django's TRUNCATE-based flush.
    """
    CREATE FUNCTION catalog_product_search_forget() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM catalog_product_search WHERE product_id = OLD.id;
        RETURN OLD;
    END $$
    """,
    """
    CREATE TRIGGER catalog_product_search_forget AFTER DELETE ON catalog_product
    FOR EACH ROW EXECUTE FUNCTION catalog_product_search_forget()
    """,
]
POSTGRESQL_REVERSE = [
    "DROP TRIGGER IF EXISTS catalog_product_search_forget ON catalog_product",
    "DROP FUNCTION IF EXISTS catalog_product_search_forget()",
    "DROP INDEX IF EXISTS catalog_searchterm_term_trgm",
    "DROP TABLE IF EXISTS catalog_product_search",
]

SQLITE_FORWARD = [
    """
    CREATE VIRTUAL TABLE catalog_product_search USING fts5(
        name, brand, category, body, tokenize = 'unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER catalog_product_search_forget AFTER DELETE ON catalog_product
    BEGIN DELETE FROM catalog_product_search WHERE rowid = OLD.id; END
    """,
    "CREATE VIRTUAL TABLE catalog_searchterm_trigram USING fts5(term, tokenize = 'trigram')",
    """
    CREATE TRIGGER catalog_searchterm_trigram_insert AFTER INSERT ON catalog_searchterm
    BEGIN INSERT INTO catalog_searchterm_trigram (rowid, term) VALUES (NEW.id, NEW.term); END
    """,
    """
    CREATE TRIGGER catalog_searchterm_trigram_update AFTER UPDATE OF term ON catalog_searchterm
    BEGIN UPDATE catalog_searchterm_trigram SET term = NEW.term WHERE rowid = OLD.id; END
    """,
    """
    CREATE TRIGGER catalog_searchterm_trigram_delete AFTER DELETE ON catalog_searchterm
    BEGIN DELETE FROM catalog_searchterm_trigram WHERE rowid = OLD.id; END
    """,
    "INSERT INTO catalog_searchterm_trigram (rowid, term) SELECT id, term FROM catalog_searchterm",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS catalog_searchterm_trigram_delete",
    "DROP TRIGGER IF EXISTS catalog_searchterm_trigram_update",
    "DROP TRIGGER IF EXISTS catalog_searchterm_trigram_insert",
    "DROP TABLE IF EXISTS catalog_searchterm_trigram",
    "DROP TRIGGER IF EXISTS catalog_product_search_forget",
    "DROP TABLE IF EXISTS catalog_product_search",
]


class VendorSQL(migrations.operations.base.Operation):
    """Raw SQL that runs only on one database vendor and leaves the model state alone."""

    reversible = True
    reduces_to_sql = True

    def __init__(self, vendor, sql, reverse_sql):
        self.vendor = vendor
        self.sql = sql
        self.reverse_sql = reverse_sql

    def deconstruct(self):
        return (self.__class__.__name__, [self.vendor, self.sql, self.reverse_sql], {})

    def state_forwards(self, app_label, state):
        pass

    def _run(self, schema_editor, statements):
        if schema_editor.connection.vendor == self.vendor:
            for statement in statements:
                schema_editor.execute(statement, params=None)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self._run(schema_editor, self.sql)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        self._run(schema_editor, self.reverse_sql)

    def describe(self):
        return f"Search index SQL for {self.vendor}"


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [
        VendorSQL("postgresql", POSTGRESQL_FORWARD, POSTGRESQL_REVERSE),
        VendorSQL("sqlite", SQLITE_FORWARD, SQLITE_REVERSE),
    ]
