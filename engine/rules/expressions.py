"""Rule conditions: parsed and type-checked by rule-engine, run as Python closures.

rule-engine (https://github.com/zeroSteiner/rule-engine) parses a condition such as
`exposure_after > 0.8 * customer_limit` against the typed field catalogue in
engine.rules.fields, rejects unknown names with the closest valid one and rejects
ill-typed operations. Evaluating its tree costs about 20 µs per condition on a
2-core AMD EPYC, too slow for millions of decisions, so `compile_condition` turns the
checked tree into nested closures over `operator` functions. No text from a rule file
is ever passed to eval or exec.

Numbers are Decimal throughout: rule-engine parses literals as Decimal, and the
engine passes money as Decimal and counts as int.
"""

from __future__ import annotations

import decimal
import operator
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine.rules import closures
from engine.rules import fields as catalogue
from engine.rules.parser_tables import import_rule_engine

# Imported first through import_rule_engine, so its parser uses the shipped tables.
rule_engine = import_rule_engine()
from rule_engine import ast, errors
from rule_engine.types import DataType

Values = dict[str, Any]
Evaluator = Callable[[Values], Any]

DECIMAL_CONTEXT = decimal.Context(prec=28, rounding=decimal.ROUND_HALF_EVEN)

KIND_TYPES = {
    catalogue.MONEY: DataType.FLOAT,
    catalogue.NUMBER: DataType.FLOAT,
    catalogue.TEXT: DataType.STRING,
    catalogue.FLAG: DataType.BOOLEAN,
}

COMPARISONS = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}
SYMBOLS = {"eq": "==", "ne": "!=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
ARITHMETIC = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "tdiv": operator.truediv,
    "fdiv": operator.floordiv,
    "mod": operator.mod,
}

UNSUPPORTED = {
    "FunctionCallExpression": "function calls",
    "FuzzyComparisonExpression": "regular-expression matches (=~)",
    "DatetimeExpression": "date literals",
    "TimedeltaExpression": "time-span literals",
    "MappingExpression": "mappings",
    "GetAttributeExpression": "attribute lookups (a.b)",
    "GetItemExpression": "index lookups (a[0])",
    "GetSliceExpression": "slices (a[1:2])",
    "ComprehensionExpression": "comprehensions",
    "BitwiseExpression": "bitwise operators",
    "BitwiseShiftExpression": "bitwise operators",
    "CoalesceExpression": "'??' operators",
    "BytesExpression": "byte literals",
}


class ConditionError(Exception):
    """A condition that cannot be used, with an optional character offset into it."""

    def __init__(self, message: str, fix: str = "", offset: int | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Condition:
    """A checked condition: its text, the fields it reads and its evaluator."""

    text: str
    fields: tuple[str, ...]
    evaluate: Evaluator
    constant: bool | None  # True or False when the result never depends on fields
    # (min_days_late, within_days) of each late_payments_<N>d_<M>d field used.
    late_payment_windows: tuple[tuple[int, int], ...]
    # Comparisons of one field with a number that are all required to hold, used to
    # spot conditions that can never be true.
    bounds: tuple[tuple[str, str, Decimal], ...] = ()

    def __call__(self, values: Values) -> bool:
        return bool(self.evaluate(values))


def _type_resolver(scope: str) -> Callable[[str], Any]:
    def resolve(name: str):
        field = catalogue.lookup(name, scope)
        if field is None:
            raise errors.SymbolResolutionError(
                name, suggestion=catalogue.suggest_field(name, scope)
            )
        return KIND_TYPES[field.kind]

    return resolve


_CONTEXTS: dict[str, rule_engine.Context] = {}


def _context(scope: str) -> rule_engine.Context:
    context = _CONTEXTS.get(scope)
    if context is None:
        context = rule_engine.Context(
            type_resolver=_type_resolver(scope),
            decimal_context=DECIMAL_CONTEXT,
            default_timezone="UTC",
        )
        _CONTEXTS[scope] = context
    return context


def compile_condition(text: str, scope: str = catalogue.ORDER) -> Condition:
    """Parse, type-check and compile one condition; raise ConditionError when invalid."""
    if not isinstance(text, str) or not text.strip():
        raise ConditionError(
            "condition is empty.", "Write a condition such as 'days_overdue > 60'."
        )
    statement = _parse(text, scope)
    compiler = _Compiler(scope)
    try:
        evaluate, kind = compiler.build(statement.expression)
    except ConditionError as exc:
        raise ConditionError(
            f"condition '{text}': {exc.message.rstrip('.')}.",
            exc.fix or "Compare money and numbers with numbers, text with quoted text.",
        ) from None
    if kind != "bool":
        raise ConditionError(
            f"condition '{text}' is a {kind}, not a yes/no test.",
            "Compare it with something, for example 'overdue > 0'.",
        )
    constant = None
    if isinstance(statement.expression, ast.BooleanExpression):
        constant = bool(statement.expression.value)
    windows = sorted(
        {w for w in map(catalogue.late_payment_window, compiler.fields) if w}
    )
    return Condition(
        text=text,
        fields=tuple(sorted(compiler.fields)),
        evaluate=evaluate,
        constant=constant,
        late_payment_windows=tuple(windows),
        bounds=tuple(_bounds(statement.expression)),
    )


def _parse(text: str, scope: str):
    try:
        return rule_engine.Rule(text, context=_context(scope)).statement
    except errors.RuleSyntaxError as exc:
        token = exc.token
        if token is None:
            raise ConditionError(
                f"condition '{text}' ends too early.",
                "Complete the comparison or remove the trailing operator.",
                offset=len(text),
            ) from None
        raise ConditionError(
            f"syntax error at '{token.value}' in condition '{text}'.",
            "Check the operators and quotes around this point.",
            offset=token.lexpos,
        ) from None
    except errors.SymbolResolutionError as exc:
        name = exc.symbol_name
        message = f"unknown field '{name}' in condition."
        fix = f"Did you mean '{exc.suggestion}'?" if exc.suggestion else ""
        field = catalogue.FIELDS.get(name)
        if field is not None and field.scope == catalogue.ORDER:
            message = f"field '{name}' describes an order and cannot be used here."
            fix = "Use customer fields only in limit adjustments."
        if not fix:
            fix = "See docs/rules.md for the list of fields."
        raise ConditionError(message, fix, offset=_find(text, name)) from None
    except errors.EvaluationError as exc:
        detail = _explain_mismatch(text, scope) or exc.message
        raise ConditionError(
            f"condition '{text}': {detail}.",
            "Compare money and numbers with numbers, text with quoted text.",
        ) from None
    except errors.EngineError as exc:
        raise ConditionError(f"condition '{text}': {exc.message}.") from None


def _find(text: str, name: str) -> int | None:
    index = text.find(name)
    return index if index >= 0 else None


def _explain_mismatch(text: str, scope: str) -> str | None:
    """Name the operands of the first ill-typed comparison, using an untyped parse."""
    untyped = rule_engine.Context(decimal_context=DECIMAL_CONTEXT)
    try:
        statement = rule_engine.Rule(text, context=untyped).statement
    except errors.EngineError:
        return None
    compiler = _Compiler(scope)
    try:
        compiler.build(statement.expression)
    except ConditionError as exc:
        return exc.message
    return None


def _describe(node, kind: str) -> str:
    if isinstance(node, ast.SymbolExpression):
        field = catalogue.lookup(node.name, catalogue.ORDER)
        shown = field.kind if field else kind
        return f"'{node.name}' ({shown})"
    if isinstance(node, ast.StringExpression):
        return f"the text '{node.value}'"
    if isinstance(node, ast.FloatExpression):
        return f"the number {node.value}"
    return f"a {kind}"


class _Compiler:
    """Build closures from a rule-engine tree, checking kinds as it goes."""

    def __init__(self, scope: str):
        self.scope = scope
        self.fields: set[str] = set()

    def build(self, node) -> tuple[Evaluator, str]:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            name = UNSUPPORTED.get(type(node).__name__, type(node).__name__)
            raise ConditionError(
                f"{name} are not supported in rule conditions",
                "Use comparisons, arithmetic, 'and', 'or', 'not' and 'in [...]'.",
            )
        return method(node)

    def _SymbolExpression(self, node):
        if node.scope is not None:
            raise ConditionError(
                f"built-in '${node.name}' is not supported in rule conditions.",
                "Use the fields listed in docs/rules.md.",
            )
        field = catalogue.lookup(node.name, self.scope)
        if field is None:
            raise ConditionError(f"unknown field '{node.name}' in condition.")
        self.fields.add(node.name)
        kind = {"money": "number", "number": "number", "text": "text"}.get(
            field.kind, "bool"
        )
        return operator.itemgetter(node.name), kind

    def _FloatExpression(self, node):
        value = node.value
        return (lambda values: value), "number"

    def _StringExpression(self, node):
        value = node.value
        return (lambda values: value), "text"

    def _BooleanExpression(self, node):
        value = bool(node.value)
        return (lambda values: value), "bool"

    def _NullExpression(self, node):
        raise ConditionError(
            "fields are never null in rule conditions.",
            "Compare text with '' and amounts with 0 instead of null.",
        )

    def _ArrayExpression(self, node):
        members = [self.build(member) for member in node.value]
        kinds = {kind for _, kind in members}
        if len(kinds) > 1:
            raise ConditionError("a list mixes text and numbers.")
        functions = [fn for fn, _ in members]
        if all(isinstance(m, ast.LiteralExpressionBase) for m in node.value):
            frozen = frozenset(m.value for m in node.value)
            return (lambda values: frozen), "list of " + (
                kinds.pop() if kinds else "text"
            )
        return (lambda values: [fn(values) for fn in functions]), "list of " + (
            kinds.pop() if kinds else "text"
        )

    _SetExpression = _ArrayExpression

    def _LogicExpression(self, node):
        left, left_kind = self.build(node.left)
        right, right_kind = self.build(node.right)
        for side, kind in ((node.left, left_kind), (node.right, right_kind)):
            if kind != "bool":
                raise ConditionError(
                    f"'{node.type}' needs yes/no tests on both sides, "
                    f"found {_describe(side, kind)}"
                )
        if node.type == "and":
            return (lambda values: left(values) and right(values)), "bool"
        return (lambda values: left(values) or right(values)), "bool"

    def _UnaryExpression(self, node):
        right, kind = self.build(node.right)
        if node.type == "not":
            return (lambda values: not right(values)), "bool"
        if kind != "number":
            raise ConditionError(
                f"'-' needs a number, found {_describe(node.right, kind)}"
            )
        return (lambda values: -right(values)), "number"

    def _comparison(self, node):
        op = COMPARISONS[node.type]
        left, left_kind = self.build(node.left)
        right, right_kind = self.build(node.right)
        if left_kind != right_kind:
            raise ConditionError(
                f"'{SYMBOLS[node.type]}' compares {_describe(node.left, left_kind)} "
                f"with {_describe(node.right, right_kind)}"
            )
        if node.type not in ("eq", "ne") and left_kind not in ("number", "text"):
            raise ConditionError(
                f"'{SYMBOLS[node.type]}' cannot order {left_kind} values"
            )
        field = isinstance(node.left, ast.SymbolExpression)
        if isinstance(node.right, ast.LiteralExpressionBase):
            constant = node.right.value
            if field:
                return closures.FIELD_CONSTANT[node.type](
                    node.left.name, constant
                ), "bool"
            return (lambda values: op(left(values), constant)), "bool"
        if field and isinstance(node.right, ast.SymbolExpression):
            return closures.FIELD_FIELD[node.type](
                node.left.name, node.right.name
            ), "bool"
        return closures.ANY_ANY[node.type](left, right), "bool"

    _ComparisonExpression = _comparison
    _ArithmeticComparisonExpression = _comparison

    def _arithmetic(self, node):
        op = ARITHMETIC.get(node.type)
        if op is None:
            raise ConditionError(f"operator '{node.type}' is not supported.")
        left, left_kind = self.build(node.left)
        right, right_kind = self.build(node.right)
        if left_kind != "number" or right_kind != "number":
            side, kind = (
                (node.left, left_kind)
                if left_kind != "number"
                else (node.right, right_kind)
            )
            raise ConditionError(
                f"arithmetic needs numbers, found {_describe(side, kind)}"
            )
        return self._arithmetic_closure(node, op, left, right), "number"

    @staticmethod
    def _arithmetic_closure(node, op, left: Evaluator, right: Evaluator) -> Evaluator:
        left_field = isinstance(node.left, ast.SymbolExpression)
        right_field = isinstance(node.right, ast.SymbolExpression)
        if isinstance(node.left, ast.LiteralExpressionBase):
            constant = node.left.value
            if right_field and node.type in closures.ARITHMETIC_CONSTANT_FIELD:
                factory = closures.ARITHMETIC_CONSTANT_FIELD[node.type]
                return factory(constant, node.right.name)
            return lambda values: op(constant, right(values))
        if isinstance(node.right, ast.LiteralExpressionBase):
            constant = node.right.value
            if left_field and node.type in closures.ARITHMETIC_FIELD_CONSTANT:
                factory = closures.ARITHMETIC_FIELD_CONSTANT[node.type]
                return factory(node.left.name, constant)
            return lambda values: op(left(values), constant)
        if left_field and right_field and node.type in closures.ARITHMETIC_FIELD_FIELD:
            factory = closures.ARITHMETIC_FIELD_FIELD[node.type]
            return factory(node.left.name, node.right.name)
        return lambda values: op(left(values), right(values))

    _AddExpression = _arithmetic
    _SubtractExpression = _arithmetic
    _ArithmeticExpression = _arithmetic

    def _ContainsExpression(self, node):
        container, container_kind = self.build(node.container)
        member, member_kind = self.build(node.member)
        if container_kind == "text" and member_kind == "text":
            return (lambda values: member(values) in container(values)), "bool"
        if not container_kind.startswith("list of"):
            raise ConditionError(
                f'\'in\' needs a list such as ["B", "C"], found a {container_kind}'
            )
        if container_kind != "list of " + member_kind and node.container.value:
            raise ConditionError(
                f"'in' looks for {_describe(node.member, member_kind)} in a {container_kind}"
            )
        return (lambda values: member(values) in container(values)), "bool"

    def _TernaryExpression(self, node):
        test, test_kind = self.build(node.condition)
        if_true, true_kind = self.build(node.case_true)
        if_false, false_kind = self.build(node.case_false)
        if test_kind != "bool" or true_kind != false_kind:
            raise ConditionError("'? :' needs a yes/no test and two values of one kind")
        return (
            lambda values: if_true(values) if test(values) else if_false(values)
        ), true_kind


def _bounds(node) -> list[tuple[str, str, Decimal]]:
    """Return the `field op number` comparisons that must all hold for `node`."""
    if isinstance(node, ast.LogicExpression) and node.type == "and":
        return _bounds(node.left) + _bounds(node.right)
    if not isinstance(node, ast.ArithmeticComparisonExpression):
        return []
    flipped = {"gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}
    left, right, op = node.left, node.right, node.type
    if isinstance(left, ast.FloatExpression) and isinstance(
        right, ast.SymbolExpression
    ):
        left, right, op = right, left, flipped[op]
    if isinstance(left, ast.SymbolExpression) and isinstance(
        right, ast.FloatExpression
    ):
        return [(left.name, op, right.value)]
    if isinstance(left, ast.SymbolExpression) and isinstance(
        right, ast.SymbolExpression
    ):
        # `a > b` bounds the difference `a - b` by zero; the names are put in one
        # order, so `a > b and b >= a` bound the same difference.
        if left.name > right.name:
            left, right, op = right, left, flipped[op]
        return [(f"{left.name} - {right.name}", op, Decimal(0))]
    return []


def contradiction(condition: Condition) -> str | None:
    """Describe why `condition` can never hold, when its bounds exclude each other."""
    lower: dict[str, tuple[Decimal, bool]] = {}
    upper: dict[str, tuple[Decimal, bool]] = {}
    for name, op, value in condition.bounds:
        if op in ("gt", "ge"):
            strict = op == "gt"
            current = lower.get(name)
            if (
                current is None
                or value > current[0]
                or (value == current[0] and strict)
            ):
                lower[name] = (value, strict)
        else:
            strict = op == "lt"
            current = upper.get(name)
            if (
                current is None
                or value < current[0]
                or (value == current[0] and strict)
            ):
                upper[name] = (value, strict)
    for name in lower.keys() & upper.keys():
        low, low_strict = lower[name]
        high, high_strict = upper[name]
        if low > high or (low == high and (low_strict or high_strict)):
            if " - " in name:  # two fields compared both ways (see _bounds)
                first, second = name.split(" - ")
                above = "above" if low_strict else "at or above"
                below = "below" if high_strict else "at or below"
                return f"'{first}' cannot be both {above} and {below} '{second}'"
            return f"no value of '{name}' is both above {low} and below {high}"
    return None
