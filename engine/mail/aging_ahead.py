"""The manager digest's aging table and chart, worked out in a thread ahead of use.

Drawing the aging chart of 40 salespeople took about 50 ms on the 2-core bench VM,
most of it Pillow's PNG encoding, which releases the GIL (Pillow 13.0). A pass
starts this work before it delivers its letters, which mostly waits for files and
commits, so the chart is ready when the manager digest is built. The thread only
computes, and the digest writes the chart into its cache folder when it uses the
chart, as `cached_aging_chart` does. When the work failed, the digest computes the
table and chart itself, so an error surfaces where it did before.
"""

from __future__ import annotations

import decimal
import logging
from collections.abc import Collection, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.model import Customer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AgingResult:
    """The aging rows and totals of `aging_by_salesperson`, and the chart's PNG."""

    aging: list[dict[str, Any]]
    total: dict[str, Decimal]
    png: bytes
    path: Path | None  # where the chart is kept
    drawn: bool  # False when the PNG was read from `path`


class AgingAhead:
    """Start the aging table and chart for the manager digest in a worker thread."""

    def __init__(
        self,
        ledger: Any,
        customers: Mapping[str, Customer],
        currency: str,
        left_out: Collection[str],
        cache_dir: Path | None,
    ):
        self.inputs = (ledger, customers, currency, frozenset(left_out), cache_dir)
        # Decimal contexts are per thread, so the worker computes in this one's.
        context = decimal.getcontext().copy()
        executor = ThreadPoolExecutor(1, thread_name_prefix="aging-chart")
        self.future: Future[AgingResult] = executor.submit(self._work, context)
        executor.shutdown(wait=False)

    def _work(self, context: decimal.Context) -> AgingResult:
        from engine.mail.digest import aging_by_salesperson, chart_path, read_chart

        decimal.setcontext(context)
        ledger, customers, currency, left_out, cache_dir = self.inputs
        aging, total = aging_by_salesperson(ledger, customers, currency, left_out)
        path = chart_path(aging, currency, cache_dir)
        png = read_chart(path)
        if png is not None:
            return AgingResult(aging, total, png, path, drawn=False)
        from engine.mail.digest import aging_chart_png

        png = aging_chart_png(aging, currency)
        return AgingResult(aging, total, png, path, drawn=True)

    def result_for(
        self,
        ledger: Any,
        customers: Mapping[str, Customer],
        currency: str,
        left_out: Collection[str],
        cache_dir: Path | None,
    ) -> AgingResult | None:
        """Return the result when it was computed from these inputs, else None.

        None also when the work failed, which is logged at debug level, because
        the caller then computes the same and meets the same error.
        """
        ledger_ahead, customers_ahead, currency_ahead, left_out_ahead, cache_ahead = (
            self.inputs
        )
        if (
            ledger is not ledger_ahead
            or customers is not customers_ahead
            or currency != currency_ahead
            or frozenset(left_out) != left_out_ahead
            or cache_dir != cache_ahead
        ):
            return None
        try:
            return self.future.result()
        # The digest computes the same again and raises the error there.
        except Exception as error:  # noqa: BLE001
            log.debug("aging chart not computed ahead: %s: %s", type(error).__name__, error)
            return None
