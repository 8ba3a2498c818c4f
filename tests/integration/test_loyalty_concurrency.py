"""Twenty simultaneous redemptions against a balance that covers five: exactly five succeed, each with its code,
and the balance ends at zero, never below, in agreement with the ledger."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from patron.accounts.testing import make_user
from patron.errors import Conflict
from patron.loyalty import services
from patron.loyalty.models import EntryKind, LoyaltyPoints, PointsEntry, Reward
from patron.pricing.models import DiscountCode, DiscountKind
from tests.concurrency import in_threads, own_database_file, race

SHOPPERS = 20
AFFORDABLE = 5
COST = 100


@race
@pytest.mark.django_db(transaction=True)
def test_twenty_redemptions_against_a_balance_for_five(tmp_path: Path) -> None:
    ada = make_user("ada@example.com")
    staff = make_user("staff@example.com", is_staff=True)
    services.adjust_points(ada.pk, AFFORDABLE * COST, reason="Opening balance", actor=staff)
    reward = Reward.objects.create(name="$5 off", kind=DiscountKind.FIXED, value=Decimal(5), points_cost=COST)

    def redeem() -> str:
        try:
            return services.redeem_reward(ada, reward.pk).code.code
        except Conflict as refused:
            return refused.code

    def final_state() -> tuple[int, int, int, int, bool]:
        account = LoyaltyPoints.objects.get(user=ada)
        return (
            account.points,
            account.pending,
            DiscountCode.objects.filter(user=ada).count(),
            PointsEntry.objects.filter(user=ada, kind=EntryKind.REDEEMED).count(),
            services.check_balance(ada.pk).agrees,
        )

    with own_database_file(tmp_path):
        results = in_threads(SHOPPERS, redeem)
        [state] = in_threads(1, final_state)

    succeeded = [result for result in results if result.startswith("REWARD-")]
    assert len(succeeded) == AFFORDABLE
    assert len(set(succeeded)) == AFFORDABLE
    assert results.count("not_enough_points") == SHOPPERS - AFFORDABLE
    assert state == (0, 0, AFFORDABLE, AFFORDABLE, True)
