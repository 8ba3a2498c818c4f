from __future__ import annotations

from typing import Any, TextIO, cast

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console

from patron.demo import services
from patron.progress import rich_progress
from patron.recommendations.training import has_active_version, train
from patron.support.demo import seed_support


class Command(BaseCommand):
    help = "Fill the store with a believable demo catalog, shoppers and order history."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--products", type=int, default=2000, help="how many products to add (default 2000)")
        parser.add_argument(
            "--seed", type=int, default=services.DEFAULT_SEED, help="the same seed always builds the same store"
        )
        parser.add_argument("--no-images", action="store_true", help="skip the product pictures (faster)")
        parser.add_argument("--if-empty", action="store_true", help="do nothing if the store has products already")
        parser.add_argument(
            "--allow-production", action="store_true", help="seed even when PATRON_ENV=production (demo passwords!)"
        )
        parser.add_argument(
            "--orders-from",
            metavar="FILE",
            help="also load a purchase log (as `patron import orders FILE` does) before recommendations are trained",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["products"] < 0:
            raise CommandError("--products must be zero or more")
        if settings.PRODUCTION and not options["allow_production"]:
            raise CommandError("Refusing to create demo users with published passwords in production.")
        # Rich writes partial lines; the raw stream keeps them intact (OutputWrapper would add newlines).
        console = Console(file=cast(TextIO, self.stdout._out), highlight=False)
        if options["if_empty"] and not services.store_is_empty():
            console.print("The store has products already; no demo data added.")
            if options["orders_from"]:
                call_command("import", "orders", options["orders_from"], stdout=self.stdout)
            if options["orders_from"] or not has_active_version():
                train_recommendations(console)
        else:
            with rich_progress(console) as phase:
                report = services.seed_demo(
                    products=options["products"],
                    seed=options["seed"],
                    with_images=not options["no_images"],
                    progress=phase,
                )
            console.print(
                f"Added {report.products:,} products ({report.variants:,} variants, {report.images:,} pictures) "
                f"in {report.categories} categories, {report.shoppers} shoppers and {report.orders:,} orders "
                f"in {report.seconds:.1f} s."
            )
            if options["orders_from"]:
                call_command("import", "orders", options["orders_from"], stdout=self.stdout)
            train_recommendations(console)
            console.print(seed_support())
        console.print("Demo logins:")
        for login in services.DEMO_LOGINS:
            console.print(f"  {login.role:<8} {login.email:<26} password: {login.password}")


def train_recommendations(console: Console) -> None:
    """The demo store serves recommendations at once, from the order history just made."""
    with rich_progress(console) as progress:
        version = train(progress=progress)
    console.print(f"Recommendations trained: serving {version.label}.")
