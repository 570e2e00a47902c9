"""The inputs recorded with a decision, as text, shared between a customer's orders.

A decision records about twenty inputs. Most of them are the customer's figures,
the same for every order of that customer, so a decision keeps one reference to the
customer's texts (`CustomerTexts`) and a short tuple of its own. `RecordedInputs` reads
as a mapping in the order a dict built field by field would have: the customer's
fields, then the order's, then `fx_rate` for an order in a foreign currency.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any


class InputsLayout:
    """The names of the recorded inputs of one rule set, in recorded order."""

    __slots__ = ("customer_names", "index", "order_names", "split")

    def __init__(self, customer_names: tuple[str, ...], order_names: tuple[str, ...]):
        self.customer_names = customer_names
        # The order's own names; an order in a foreign currency also has fx_rate.
        self.order_names = (*order_names, "fx_rate")
        self.split = len(customer_names)
        self.index = {
            name: position
            for position, name in enumerate((*customer_names, *self.order_names))
        }


class CustomerTexts:
    """One customer's recorded inputs as text, shared by all of its decisions."""

    __slots__ = ("_json", "befores", "layout", "slot_texts", "texts")

    def __init__(
        self,
        layout: InputsLayout,
        texts: tuple[str, ...],
        befores: tuple[Any, ...] = (),
        slot_texts: tuple[str, ...] = (),
    ):
        self.layout = layout
        self.texts = texts
        # The customer's value and its text for each input an order can change, in
        # the order of the layout's order names. The value is MISSING for order
        # fields the customer has no value for. Two flat tuples, not a tuple per
        # input, because a pass reads them for every order in customer order.
        self.befores = befores
        self.slot_texts = slot_texts
        self._json: str | None = None

    def json_items(self) -> str:
        """Return the customer's inputs as JSON object members, encoded once."""
        if self._json is None:
            names = self.layout.customer_names
            self._json = json.dumps(dict(zip(names, self.texts)), ensure_ascii=False)[
                1:-1
            ]
        return self._json


class RecordedInputs(Mapping):
    """A decision's recorded inputs: the customer's texts, then the order's own."""

    __slots__ = ("customer", "own")

    def __init__(self, customer: CustomerTexts, own: tuple[str, ...]):
        self.customer = customer
        self.own = own

    def __getitem__(self, name: str) -> str:
        layout = self.customer.layout
        position = layout.index[name]
        if position < layout.split:
            return self.customer.texts[position]
        position -= layout.split
        if position >= len(self.own):
            raise KeyError(name)
        return self.own[position]

    def __iter__(self) -> Iterator[str]:
        layout = self.customer.layout
        yield from layout.customer_names
        yield from layout.order_names[: len(self.own)]

    def __len__(self) -> int:
        return self.customer.layout.split + len(self.own)

    def to_dict(self) -> dict[str, str]:
        """Return the inputs as a plain dict, in recorded order."""
        layout = self.customer.layout
        names = (*layout.customer_names, *layout.order_names[: len(self.own)])
        return dict(zip(names, self.customer.texts + self.own))

    def __repr__(self) -> str:
        return repr(self.to_dict())

    def to_json(self) -> str:
        """Return the same text as `json.dumps(self.to_dict(), ensure_ascii=False)`."""
        layout = self.customer.layout
        members = [self.customer.json_items()] if layout.split else []
        if self.own:
            own = dict(zip(layout.order_names, self.own))
            members.append(json.dumps(own, ensure_ascii=False)[1:-1])
        return "{" + ", ".join(members) + "}"


def inputs_json(inputs: Mapping[str, str]) -> str:
    """Return a decision's inputs as a JSON object, as the decision log stores them."""
    if isinstance(inputs, RecordedInputs):
        return inputs.to_json()
    return json.dumps(inputs, ensure_ascii=False)
