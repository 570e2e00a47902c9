"""Credit limits: per customer from rating, history and the typed column; per salesperson.

All limits are in the base currency. A limit typed in the customers sheet takes
precedence over the rating table and is never adjusted. It is in the customer's
currency and converted with the FX table.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine.model import Customer
from engine.rules.model import RuleSet
from engine.rules.money import amount_formatter

CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class LimitResult:
    amount: Decimal | None
    how: (
        str  # "rating B 25,000.00, halved by 'slow payer' (late_payments_15d_365d = 3)"
    )
    where: str  # rule file:line:column, or the customers sheet row of a typed limit
    held_reason: str | None  # why no limit could be set; orders are then held


def find_rating(rules: RuleSet, rating: str | None):
    """Return the rating band for `rating` (ignoring case), or None."""
    if not rating:
        return None
    wanted = rating.strip().upper()
    for band in rules.rating_bands:
        if band.rating.upper() == wanted:
            return band
    return None


def fx_rate(rules: RuleSet, currency: str | None) -> Decimal | None:
    """Return units of base currency per unit of `currency`; None when unknown."""
    code = (currency or rules.base_currency).strip().upper()
    if code == rules.base_currency:
        return Decimal(1)
    return rules.fx_rates.get(code)


def limit_from(
    rules: RuleSet, customer: Customer, history: dict[str, Any]
) -> LimitResult:
    """Derive the customer's limit from `history`, the customer-scope field values."""
    money = amount_formatter(rules.locale)
    if customer.credit_limit is not None:
        return _typed_limit(rules, customer, money)
    band = find_rating(rules, customer.rating)
    how_prefix = f"rating {band.rating}" if band else ""
    if band is None:
        if rules.default_rating is None:
            found = f"rating '{customer.rating}'" if customer.rating else "no rating"
            return LimitResult(
                None,
                "",
                rules.where.get("default_rating", ""),
                f"customer {customer.customer_id} has {found}, no typed credit limit "
                "and default_rating is 'hold' (credit.yaml)",
            )
        band = find_rating(rules, rules.default_rating)
        found = (
            f"unknown rating '{customer.rating}'" if customer.rating else "no rating"
        )
        how_prefix = f"{found}, default rating {band.rating}"
    amount = band.limit
    how = f"{how_prefix} {money(amount)}"
    for adjustment in rules.adjustments:
        if not adjustment.condition(history):
            continue
        amount = (amount * adjustment.factor).quantize(CENT)
        shown = ", ".join(
            f"{name} = {history[name]}" for name in adjustment.condition.fields
        )
        verb = (
            "halved"
            if adjustment.factor == Decimal("0.5")
            else f"× {adjustment.factor}"
        )
        how += f", {verb} by '{adjustment.name}' ({shown})"
    return LimitResult(amount, how, band.where, None)


class LimitAmounts:
    """Customers' limit amounts, each derived once per distinct set of inputs.

    The amount `limit_from` gives depends on the typed limit and its currency, or
    else on the rating and the values of the fields the limit adjustments read.
    Customers who share these inputs share one derivation. The texts of a
    `LimitResult` name the customer, so only the amount is shared.
    """

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        # The fields the adjustments read, or None when a condition does not list
        # them and every field is needed.
        self.fields: tuple[str, ...] | None = adjustment_fields(rules)
        self._amounts: dict[tuple, Decimal | None] = {}

    def amount(self, customer: Customer, history: dict[str, Any]) -> Decimal | None:
        """Return `limit_from(rules, customer, history).amount`."""
        if customer.credit_limit is not None:
            key: tuple = (customer.credit_limit, customer.currency)
        elif self.fields is None:
            return limit_from(self.rules, customer, history).amount
        else:
            # `find_rating` ignores case and surrounding spaces.
            rating = (customer.rating or "").strip().upper()
            key = (None, rating, *(history[name] for name in self.fields))
        try:
            return self._amounts[key]
        except KeyError:
            amount = limit_from(self.rules, customer, history).amount
            self._amounts[key] = amount
            return amount


def adjustment_fields(rules: RuleSet) -> tuple[str, ...] | None:
    """Return the fields the limit adjustments read, or None when a condition does
    not list its fields."""
    names: dict[str, None] = {}
    for adjustment in rules.adjustments:
        fields = getattr(adjustment.condition, "fields", None)
        if fields is None:
            return None
        names.update(dict.fromkeys(fields))
    return tuple(names)


def _typed_limit(rules: RuleSet, customer: Customer, money) -> LimitResult:
    typed = customer.credit_limit
    rate = fx_rate(rules, customer.currency)
    where = str(customer.ref)
    if rate is None:
        return LimitResult(
            None,
            "",
            where,
            f"the typed credit limit of customer {customer.customer_id} is in "
            f"{customer.currency}, which has no rate in the fx table of credit.yaml",
        )
    if rate == 1:
        return LimitResult(typed, f"typed limit {money(typed)}", where, None)
    amount = (typed * rate).quantize(CENT)
    how = (
        f"typed limit {money(typed)} {customer.currency.upper()} "
        f"at {amount_formatter(rules.locale, 4)(rate)}"
    )
    return LimitResult(amount, how, where, None)


def salesperson_limit_of(rules: RuleSet, salesperson: str | None) -> LimitResult:
    """Return the salesperson's limit: a named exception, else the default."""
    if not salesperson:
        return LimitResult(None, "no salesperson", "", None)
    money = amount_formatter(rules.locale)
    default = None
    wanted = salesperson.strip().upper()
    for limit in rules.salesperson_limits:
        if limit.salesperson is None:
            default = limit
        elif limit.salesperson.upper() == wanted:
            return LimitResult(
                limit.limit,
                f"exception for {limit.salesperson} {money(limit.limit)}",
                limit.where,
                None,
            )
    if default is None:
        return LimitResult(None, "no default salesperson limit", "", None)
    return LimitResult(
        default.limit, f"default {money(default.limit)}", default.where, None
    )
