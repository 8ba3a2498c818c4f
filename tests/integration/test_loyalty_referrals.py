"""Referrals: both customers earn after the new customer's first paid order, unless it looks like abuse: the same
person (email aliases included), the inviter's shipping address or payment card, or the inviter's limit reached."""

from __future__ import annotations

from datetime import datetime

import pytest

from patron.accounts.models import Address, User
from patron.accounts.testing import make_user
from patron.catalog.models import Variant
from patron.loyalty import services
from patron.loyalty.models import EntryKind, PointsEntry, Referral, ReferralStatus, RuleKind
from patron.orders import services as orders
from tests.integration import test_loyalty_earning as shared
from tests.integration.test_loyalty_earning import OTHER_CARD, balance, buy, make_rule

pytestmark = pytest.mark.django_db
clock, kitchen, mug = shared.clock, shared.kitchen, shared.mug  # fixtures

REFERRER_HOME = {
    "full_name": "Ada",
    "line1": "1 Analytical Way",
    "city": "London",
    "postal_code": "N1 1AA",
    "country": "GB",
}
FRIEND_HOME = {
    "full_name": "Bob",
    "line1": "9 Difference Road",
    "city": "Leeds",
    "postal_code": "LS1 4AP",
    "country": "GB",
}


@pytest.fixture(autouse=True)
def referral_rules() -> None:
    make_rule(RuleKind.REFERRER, 200, max_awards_per_customer=2)
    make_rule(RuleKind.REFERRED, 100)


@pytest.fixture
def inviter(customer: User, mug: Variant, clock: datetime) -> User:
    """Ada, who has bought before (with the always-accepted test card, shipped to her home)."""
    buy(customer, (mug, 1), now=clock, address=REFERRER_HOME)
    return customer


def invited(inviter: User, email: str, clock: datetime) -> User:
    friend = make_user(email, name="Bob")
    services.welcome_customer(friend.pk, services.account_for(inviter).referral_code.lower(), now=clock)
    return friend


def test_both_earn_after_the_friends_first_paid_order(inviter: User, mug: Variant, clock: datetime) -> None:
    friend = invited(inviter, "bob@example.com", clock)
    assert Referral.objects.get(referred=friend).status == ReferralStatus.PENDING
    assert balance(friend) == (0, 0)

    first = buy(friend, (mug, 1), now=clock, card=OTHER_CARD, address=FRIEND_HOME)
    buy(friend, (mug, 1), now=clock, card=OTHER_CARD, address=FRIEND_HOME)

    referral = Referral.objects.get(referred=friend)
    assert (referral.status, referral.order, referral.reason) == (ReferralStatus.REWARDED, first, "")
    assert balance(inviter) == (0, 200)
    assert balance(friend) == (0, 100)
    # Tied to the order: pending with it, and reversed with it.
    assert set(
        PointsEntry.objects.filter(rule__kind__in=[RuleKind.REFERRER, RuleKind.REFERRED]).values_list(
            "order", flat=True
        )
    ) == {first.pk}
    assert services.referral_stats(inviter).rewarded == 1


@pytest.mark.parametrize(
    ("inviter_email", "friend_email"),
    [("ada@example.com", "ada+deals@example.com"), ("ada.lovelace@gmail.com", "adalovelace+2@googlemail.com")],
)
def test_self_referral_with_an_email_alias_is_refused_at_sign_up(
    inviter: User, clock: datetime, inviter_email: str, friend_email: str
) -> None:
    User.objects.filter(pk=inviter.pk).update(email=inviter_email)
    inviter.refresh_from_db()
    friend = invited(inviter, friend_email, clock)

    referral = Referral.objects.get(referred=friend)
    assert (referral.status, referral.reason) == (ReferralStatus.REFUSED, "Self-referral: the same person.")


def test_the_inviters_shipping_address_is_refused(inviter: User, mug: Variant, clock: datetime) -> None:
    Address.objects.create(user=inviter, **{**REFERRER_HOME, "line1": "2 Engine Lane"}, is_default=True)
    friend = invited(inviter, "bob@example.com", clock)
    same_place = {**FRIEND_HOME, "line1": "2, engine lane", "postal_code": "n11aa"}
    buy(friend, (mug, 1), now=clock, card=OTHER_CARD, address=same_place)

    referral = Referral.objects.get(referred=friend)
    assert (referral.status, referral.reason) == (
        ReferralStatus.REFUSED,
        "Same shipping address as the inviting customer.",
    )
    assert balance(inviter) == (0, 0)
    assert balance(friend) == (0, 0)


def test_the_inviters_payment_card_is_refused(inviter: User, mug: Variant, clock: datetime) -> None:
    friend = invited(inviter, "bob@example.com", clock)
    buy(friend, (mug, 1), now=clock, address=FRIEND_HOME)  # the same card Ada paid with

    referral = Referral.objects.get(referred=friend)
    assert (referral.status, referral.reason) == (ReferralStatus.REFUSED, "Same payment card as the inviting customer.")
    assert not PointsEntry.objects.filter(rule__kind=RuleKind.REFERRER).exists()


def test_an_inviter_is_rewarded_up_to_the_limit(inviter: User, mug: Variant, clock: datetime) -> None:
    friends = [invited(inviter, f"friend{n}@example.com", clock) for n in range(3)]
    for n, friend in enumerate(friends):
        buy(friend, (mug, 1), now=clock, card=OTHER_CARD, address={**FRIEND_HOME, "line1": f"{n} Friend Street"})

    statuses = [Referral.objects.get(referred=friend).status for friend in friends]
    assert statuses == [ReferralStatus.REWARDED, ReferralStatus.REWARDED, ReferralStatus.REFUSED]
    assert Referral.objects.get(referred=friends[2]).reason == "The inviting customer has reached the referral limit."
    assert balance(inviter) == (0, 400)


def test_an_unknown_code_records_nothing(clock: datetime) -> None:
    friend = make_user("bob@example.com")
    services.welcome_customer(friend.pk, "NOSUCHCODE", now=clock)

    assert not Referral.objects.exists()


def test_the_referral_is_reversed_with_its_order(inviter: User, staff: User, mug: Variant, clock: datetime) -> None:
    friend = invited(inviter, "bob@example.com", clock)
    first = buy(friend, (mug, 1), now=clock, card=OTHER_CARD, address=FRIEND_HOME)
    orders.cancel_order(first, actor=staff)
    services.reverse_order_points(first.pk, clock)

    assert balance(inviter) == (0, 0)
    assert balance(friend) == (0, 0)
    assert PointsEntry.objects.filter(user=inviter, kind=EntryKind.REVERSED, pending=-200).exists()
