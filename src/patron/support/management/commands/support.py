"""`patron support`: train the assistant's intent model now (`train`), or measure it on public data (`evaluate`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from patron.errors import NotFound
from patron.support import evaluation
from patron.support.assistant.intents import load_intents
from patron.support.assistant.nlu import classifier


class Command(BaseCommand):
    help = "Support assistant: train its intent model from the intents file, or evaluate it on public data sets."

    def add_arguments(self, parser: CommandParser) -> None:
        subcommands = parser.add_subparsers(dest="subcommand", required=True)
        subcommands.add_parser("train", help="train (or load) the intent model for the current intents file")
        evaluate = subcommands.add_parser(
            "evaluate", help="intent accuracy and macro-F1 on Bitext, out-of-scope precision/recall on CLINC150"
        )
        evaluate.add_argument(
            "--data",
            type=Path,
            default=None,
            help="folder holding support/bitext and support/clinc150 (default: PATRON_DATA_DIR or ../shared/data)",
        )
        evaluate.add_argument(
            "--no-split", action="store_true", help="skip the second figure (training on 70%% of Bitext)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["subcommand"] == "train":
            started = time.perf_counter()
            classifier()
            book = load_intents()
            self.stdout.write(
                f"Intent model ready: {len(book.intents)} intents, {time.perf_counter() - started:.1f} s."
            )
            return
        folder = evaluation.data_dir(options["data"])
        try:
            report = evaluation.evaluate(folder, with_split=not options["no_split"], progress=self.stderr.write)
        except NotFound as missing:
            raise CommandError(missing.message) from None
        self.print_report(report)

    def print_report(self, report: evaluation.Report) -> None:
        write = self.stdout.write
        write(f"Confidence threshold: {report.threshold:.2f}")
        shipped = report.shipped
        write(
            f"Bitext, shipped model (trained on the intents file only), {shipped.count} utterances: "
            f"accuracy {shipped.accuracy:.3f}, macro-F1 {shipped.macro_f1:.3f}"
        )
        if report.split is not None:
            split = report.split
            write(
                f"Bitext, intents file + 70% of Bitext, scored on the other {split.count}: "
                f"accuracy {split.accuracy:.3f}, macro-F1 {split.macro_f1:.3f}"
            )
        if report.out_of_scope is not None:
            oos = report.out_of_scope
            write(
                f"Out of scope, CLINC150 oos_val + oos_test ({oos.oos_count}) against Bitext ({oos.in_scope_count}): "
                f"precision {oos.precision:.3f}, recall {oos.recall:.3f}, "
                f"in-scope accuracy {oos.in_scope_accuracy:.3f}"
            )
