"""Order decisions per minute on one core with the shipped rules.

Run: .venv/bin/python bench/bench_decisions.py [--orders N] [--customers N]

Builds synthetic customers, invoices and new orders in memory, builds the ledger
once, then times `decide_orders` alone (best of three runs) and prints decisions
per minute. The orders hit every path of the shipped rules: approvals, warnings,
limit and overdue blocks, salesperson blocks and FX conversion.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.decide import decide_orders  # noqa: E402
from engine.ledger import build_ledger  # noqa: E402
from engine.model import Customer, Inputs, Order, RowRef  # noqa: E402
from engine.rules.check import load_rules  # noqa: E402

AS_OF = dt.date(2024, 5, 1)
SALESPEOPLE = 5_000  # synthetic salesperson codes SP0000..SP4999, 4 customers each


def synthetic_inputs(orders: int, customers: int, seed: int = 7) -> Inputs:
    """Return customers with a few open invoices each, and `orders` new orders."""
    rng = random.Random(seed)
    people = [
        Customer(
            f"C{n:05d}",
            f"Customer {n}",
            RowRef("customers.xlsx", "Customers", n + 2),
            rating=rng.choice("ABCDX"),
            salesperson=f"SP{n % SALESPEOPLE:04d}",
            currency="USD",
            credit_limit=Decimal(20000) if n % 50 == 0 else None,
        )  # fmt: skip
        for n in range(customers)
    ]
    rows = []
    row = 2
    for person in people:
        for _ in range(3):
            due = AS_OF - dt.timedelta(days=rng.choice((-20, -5, 3, 12, 25, 40, 70)))
            rows.append(Order(
                f"I{row}", person.customer_id, due - dt.timedelta(days=30),
                Decimal(rng.randint(10, 60)), "USD", RowRef("orders.xlsx", "Orders", row),
                invoice_id=f"INV{row}", invoice_date=due - dt.timedelta(days=30),
                due_date=due,
            ))  # fmt: skip
            row += 1
    for _ in range(orders):
        person = people[rng.randrange(customers)]
        cents = rng.randint(100, 4_000)
        rows.append(Order(
            f"O{row}", person.customer_id, AS_OF - dt.timedelta(days=rng.randint(0, 9)),
            Decimal(cents).scaleb(-2), "EUR" if row % 5 == 0 else "USD",
            RowRef("orders.xlsx", "Orders", row),
        ))  # fmt: skip
        row += 1
    return Inputs(customers=people, orders=rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--orders", type=int, default=200_000, help="new orders to decide"
    )
    parser.add_argument("--customers", type=int, default=20_000, help="customers")
    args = parser.parse_args()

    rules = load_rules(ROOT)
    inputs = synthetic_inputs(args.orders, args.customers)

    def to_base(amount, currency, ref):
        return (
            amount
            if currency == rules.base_currency
            else amount * rules.fx_rates[currency]
        )

    ledger = build_ledger(inputs, AS_OF, to_base)
    best = best_cpu = None
    for _ in range(3):
        started, started_cpu = time.perf_counter(), time.process_time()
        decisions = decide_orders(rules, ledger, inputs, AS_OF)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - started_cpu
        best = elapsed if best is None else min(best, elapsed)
        best_cpu = cpu if best_cpu is None else min(best_cpu, cpu)
    counts: dict[str, int] = {}
    for decision in decisions:
        key = decision.status + (" with warning" if decision.warning else "")
        counts[key] = counts.get(key, 0) + 1
    print(
        f"decided {len(decisions):,} orders in {best:.3f} s wall, {best_cpu:.3f} s CPU "
        "(best of 3)"
    )
    print("outcomes: " + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())))
    print(f"decisions per minute (wall): {len(decisions) / best * 60:,.0f}")
    print(f"decisions per minute (CPU):  {len(decisions) / best_cpu * 60:,.0f}")


if __name__ == "__main__":
    main()
