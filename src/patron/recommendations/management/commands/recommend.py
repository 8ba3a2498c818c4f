"""`patron recommend`: train the recommendations the store serves (`train`) or compare models offline (`evaluate`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console

from patron.errors import Conflict
from patron.progress import rich_progress, silent_progress
from patron.recommendations.engine.evaluation import DEFAULT_TEST_DAYS
from patron.recommendations.engine.models import DEFAULT_MODEL, MODELS
from patron.recommendations.engine.report import print_evaluation


class Command(BaseCommand):
    help = (
        "Recommendations: train and activate a new version from the store's data (train), "
        "or compare the models offline on a purchase log (evaluate)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        subcommands = parser.add_subparsers(dest="subcommand", required=True)
        train = subcommands.add_parser("train", help="train on the store's orders, views and catalog, then serve it")
        train.add_argument(
            "--model",
            choices=sorted(MODELS),
            default=DEFAULT_MODEL,
            help=f"the model behind “Recommended for you” (default {DEFAULT_MODEL})",
        )
        evaluate = subcommands.add_parser(
            "evaluate", help="compare the models offline on a purchase log (temporal split, see the README)"
        )
        evaluate.add_argument(
            "--interactions",
            type=Path,
            required=True,
            help="purchase log, CSV or Parquet: user, item, timestamp, quantity[, basket], or Online Retail II",
        )
        evaluate.add_argument(
            "--test-days",
            type=int,
            default=DEFAULT_TEST_DAYS,
            help=f"length of the test period (default {DEFAULT_TEST_DAYS})",
        )
        evaluate.add_argument(
            "--validation", action="store_true", help="score on the period just before the test period (for tuning)"
        )
        evaluate.add_argument(
            "--models", nargs="+", choices=list(MODELS), default=list(MODELS), help="which models (default: all)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # Rich writes partial lines; the raw stream keeps them intact (OutputWrapper would add newlines).
        console = Console(file=cast(TextIO, self.stdout._out), highlight=False)
        if options["subcommand"] == "train":
            self.train(console, options)
        elif options["subcommand"] == "evaluate":
            self.evaluate(console, options)

    def train(self, console: Console, options: dict[str, Any]) -> None:
        from patron.recommendations.training import train

        quiet = options["verbosity"] == 0
        try:
            if quiet:
                version = train(progress=silent_progress, model_name=options["model"])
            else:
                with rich_progress(console) as progress:
                    version = train(progress=progress, model_name=options["model"])
        except Conflict as error:
            raise CommandError(error.message) from error
        if not quiet:
            metrics = version.metrics
            console.print(
                f"Serving {version.label}: {metrics.get('products', 0):,} products, "
                f"{metrics.get('similar_rows', 0):,} similar and {metrics.get('bought_together_rows', 0):,} "
                f"bought-together neighbours, {metrics.get('users', 0):,} customers, "
                f"{metrics.get('trending_rows', 0):,} trending entries."
            )

    def evaluate(self, console: Console, options: dict[str, Any]) -> None:
        try:
            print_evaluation(
                console,
                options["interactions"],
                test_days=options["test_days"],
                validation=options["validation"],
                models=options["models"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
