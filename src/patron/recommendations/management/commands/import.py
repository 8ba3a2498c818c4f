"""`patron import orders FILE`: load a purchase log (customers, products, delivered orders) into the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console

from patron.errors import ValidationFailed
from patron.progress import rich_progress
from patron.recommendations import importing


class Command(BaseCommand):
    help = "Import data into the store: `import orders FILE` loads a purchase log as customers, products and orders."

    def add_arguments(self, parser: CommandParser) -> None:
        subcommands = parser.add_subparsers(dest="subcommand", required=True)
        orders = subcommands.add_parser(
            "orders",
            help="a purchase log, CSV or Parquet: user, item, timestamp, quantity[, basket, name, price], "
            "or Online Retail II as published; importing a file again adds nothing",
        )
        orders.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        # Rich writes partial lines; the raw stream keeps them intact (OutputWrapper would add newlines).
        console = Console(file=cast(TextIO, self.stdout._out), highlight=False)
        try:
            with rich_progress(console) as progress:
                report = importing.import_orders(options["file"], progress=progress)
        except ValidationFailed as error:
            raise CommandError(error.message) from error
        console.print(
            f"Imported {report.orders:,} orders ({report.order_lines:,} lines) from {report.lines:,} purchase lines "
            f"in {report.seconds:.1f} s: {report.customers:,} new customers ({report.customers_existing:,} "
            f"existing), {report.products:,} new products ({report.products_existing:,} existing); "
            f"{report.orders_already_imported:,} orders were imported before.",
            soft_wrap=True,
        )
