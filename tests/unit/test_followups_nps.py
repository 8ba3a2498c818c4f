"""NPS arithmetic: promoters (9-10) minus detractors (0-6), in whole points of the answers."""

from __future__ import annotations

import pytest

from patron.followups.feedback import nps
from patron.followups.models import SurveyKind
from patron.followups.services import is_detractor


def test_nps_is_promoters_minus_detractors_in_points() -> None:
    result = nps([10, 9, 9, 8, 7, 6, 0, 10, 5, 9])
    assert (result.responses, result.promoters, result.passives, result.detractors) == (10, 5, 2, 3)
    assert result.score == 20


@pytest.mark.parametrize(
    ("scores", "expected"),
    [([], None), ([10, 10], 100), ([0, 6], -100), ([7, 8], 0), ([9, 6, 7], 0), ([9, 9, 6], 33), ([9, 6, 6], -33)],
)
def test_nps_edges(scores: list[int], expected: int | None) -> None:
    assert nps(scores).score == expected


def test_who_is_a_detractor() -> None:
    assert [score for score in range(11) if is_detractor(SurveyKind.NPS, score)] == [0, 1, 2, 3, 4, 5, 6]
    assert [score for score in range(1, 6) if is_detractor(SurveyKind.CSAT, score)] == [1, 2]
