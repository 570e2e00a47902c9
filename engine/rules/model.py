"""The rule set after loading and checking: plain typed data, with source positions.

Every rule keeps `where` (`rules/credit.yaml:14:5`) so a decision, a letter or a
finding can name the line finance wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class RatingBand:
    rating: str
    limit: Decimal
    where: str


@dataclass(frozen=True, slots=True)
class LimitAdjustment:
    """A change to the rating limit when a condition on payment history holds."""

    name: str
    condition: Any  # a compiled expression (engine.rules.expressions)
    factor: Decimal
    where: str


@dataclass(frozen=True, slots=True)
class SalespersonLimit:
    salesperson: str | None  # None for the default
    limit: Decimal
    where: str


@dataclass(frozen=True, slots=True)
class DecisionRule:
    """One row of the ordered decision table: first match wins."""

    name: str
    outcome: str  # "approve", "warn" or "block"
    condition: Any
    reason: str  # a template for the reason sentence
    notify: tuple[str, ...]
    where: str


@dataclass(frozen=True, slots=True)
class DunningLevel:
    """A reminder level for items overdue between min_days and max_days inclusive."""

    level: int
    name: str
    min_days: int
    max_days: int | None  # None: no upper bound
    template: str  # template base name in templates/, for example "reminder_level1"
    recipients: tuple[str, ...]  # "customer", "salesperson", "finance", "manager"
    repeat_days: int | None  # None: sent once per item and level
    where: str


@dataclass(frozen=True, slots=True)
class Contacts:
    finance: tuple[str, ...] = ()
    managers: tuple[str, ...] = ()
    # Salesperson code -> e-mail address.
    salespeople: dict[str, str] = field(default_factory=dict)
    sender: str = "credit-control@agency.test"


@dataclass(frozen=True, slots=True)
class RuleSet:
    base_currency: str
    timezone: str
    rating_bands: tuple[RatingBand, ...]
    default_rating: str | None
    adjustments: tuple[LimitAdjustment, ...]
    salesperson_limits: tuple[SalespersonLimit, ...]
    warning_threshold: Decimal  # a fraction, 0.8 for 80 %
    decision_rules: tuple[DecisionRule, ...]
    default_outcome: str
    dunning_levels: tuple[DunningLevel, ...]
    quiet_days: int
    promise_grace_days: int
    fx_rates: dict[str, Decimal]  # units of base currency per unit of the currency
    approvers: tuple[str, ...]
    contacts: Contacts
    fallback_language: str = "en"
    send_thank_you: bool = False
    digest_schedule: str = "every-pass"
    sources: dict[str, str] = field(default_factory=dict)  # rule file -> sha256
    # Babel locale for numbers in the Reason cell, such as "en_US".
    locale: str = "en_US"
    where: dict[str, str] = field(default_factory=dict)  # setting -> rule file:line:col
    # Roles notified when an order is approved with a warning: salesperson, finance, manager.
    warning_notify: tuple[str, ...] = ()
    # (min_days_late, within_days) of every late_payments_<N>d_<M>d field the rules use.
    late_payment_windows: tuple[tuple[int, int], ...] = ()
