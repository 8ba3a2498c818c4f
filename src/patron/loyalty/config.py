"""The program as the merchant configured it (settings, active rules, tiers and rewards), read from the cache.

Checkout, product pages and every award read it, so it is built once (four queries) and kept under a version
that each save or delete of a setting, rule, tier or reward replaces: a change shows at once. A short lifetime
bounds what a process-local cache (no Redis) may miss of another process's change.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db import transaction

from patron.loyalty.models import PROGRAM_ID, EarningRule, LoyaltyProgram, Reward, Tier

VERSION_KEY = "loyalty:config-version"
CACHE_SECONDS = 60


@dataclass(frozen=True)
class ProgramConfig:
    program: LoyaltyProgram
    rules: list[EarningRule]  # the active ones, with their product and category
    tiers: list[Tier]  # lowest threshold first
    rewards: list[Reward]  # the active ones, with their product

    def open_rules(self, now: datetime) -> dict[str, list[EarningRule]]:
        """The active rules within their dates at `now`, by kind."""
        rules: dict[str, list[EarningRule]] = defaultdict(list)
        for rule in self.rules:
            if (rule.starts_at is None or rule.starts_at <= now) and (rule.ends_at is None or now < rule.ends_at):
                rules[rule.kind].append(rule)
        return rules

    def tier(self, tier_id: int | None) -> Tier | None:
        return next((tier for tier in self.tiers if tier.pk == tier_id), None)


def _new_version() -> None:
    cache.set(VERSION_KEY, uuid.uuid4().hex, None)


def changed() -> None:
    """Make every cached copy of the configuration stale (the models' save and delete call this): now, for the rest
    of this transaction, and again once it commits, in case another process cached the configuration from the rows
    as they were before this change committed."""
    _new_version()
    transaction.on_commit(_new_version)


def _load() -> ProgramConfig:
    # Reading never writes: until the merchant saves the settings, the defaults apply.
    program = LoyaltyProgram.objects.filter(pk=PROGRAM_ID).first() or LoyaltyProgram(pk=PROGRAM_ID)
    return ProgramConfig(
        program=program,
        rules=list(EarningRule.objects.filter(is_active=True).select_related("product", "category").order_by("pk")),
        tiers=list(Tier.objects.order_by("threshold")),
        rewards=list(Reward.objects.filter(is_active=True).select_related("product")),
    )


def current() -> ProgramConfig:
    version = cache.get(VERSION_KEY)
    if version is None:
        version = uuid.uuid4().hex
        cache.add(VERSION_KEY, version, None)
        version = cache.get(VERSION_KEY, version)
    key = f"loyalty:config:{version}"
    config: ProgramConfig | None = cache.get(key)
    if config is None:
        config = _load()
        cache.set(key, config, CACHE_SECONDS)
    return config
