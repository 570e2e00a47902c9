"""The manager digest with its aging chart computed ahead in a thread."""

from __future__ import annotations

from mail_factories import make_rules, templates_dir
from test_mail_digest import digest_data

from engine.mail import LetterRenderer, build_manager_digest
from engine.mail.aging_ahead import AgingAhead
from engine.mail.digest import CHART_PREFIX


def digest_parts(message) -> list[tuple[str, bytes]]:
    """Return each part's type and body, without the chart's random Content-ID."""
    parts = []
    for part in message.walk():
        if part.is_multipart():
            continue
        body = part.get_payload(decode=True)
        cid = part["Content-ID"]
        if cid:
            body = body.replace(cid.strip("<>").encode(), b"CID")
        parts.append((part.get_content_type(), body))
    return parts


def html_without_cid(message) -> str:
    html = message.get_body(("html",)).get_content()
    related = message.get_body(("related",))
    image = next(p for p in related.iter_parts() if p.get_content_type() == "image/png")
    return html.replace(image["Content-ID"].strip("<>"), "CID")


def ahead_for(data, rules, cache):
    return AgingAhead(
        data.ledger, data.customers, rules.base_currency, data.held_customers, cache
    )


def test_digest_same_with_chart_ahead(tmp_path):
    rules = make_rules()
    renderer = LetterRenderer(templates_dir(), rules)
    data = digest_data()
    plain = build_manager_digest(data, rules, renderer, tmp_path / "plain")
    early = build_manager_digest(
        data, rules, renderer, tmp_path / "ahead",
        ahead=ahead_for(data, rules, tmp_path / "ahead"),
    )
    assert early[0].key == plain[0].key
    plain_parts = [p for p in digest_parts(plain[1]) if p[0] != "text/html"]
    early_parts = [p for p in digest_parts(early[1]) if p[0] != "text/html"]
    assert early_parts == plain_parts
    assert html_without_cid(early[1]) == html_without_cid(plain[1])
    kept = sorted(path.name for path in (tmp_path / "ahead").glob(f"{CHART_PREFIX}*"))
    assert kept == sorted(
        path.name for path in (tmp_path / "plain").glob(f"{CHART_PREFIX}*")
    )
    assert len(kept) == 1


def test_chart_ahead_reads_kept_chart(tmp_path):
    rules = make_rules()
    renderer = LetterRenderer(templates_dir(), rules)
    data = digest_data()
    build_manager_digest(data, rules, renderer, tmp_path)
    ahead = ahead_for(data, rules, tmp_path)
    result = ahead.result_for(
        data.ledger, data.customers, rules.base_currency, data.held_customers, tmp_path
    )
    assert result is not None
    assert result.drawn is False
    assert result.png == result.path.read_bytes()


def test_chart_ahead_unused_for_other_inputs(tmp_path):
    rules = make_rules()
    data = digest_data()
    ahead = ahead_for(data, rules, tmp_path)
    other = digest_data()
    assert (
        ahead.result_for(
            other.ledger, data.customers, rules.base_currency, {}, tmp_path
        )
        is None
    )
    assert (
        ahead.result_for(
            data.ledger, data.customers, rules.base_currency, {"C001": "held"}, tmp_path
        )
        is None
    )


def test_failed_chart_ahead_falls_back(tmp_path):
    """A failure in the thread leaves the digest to compute the chart itself."""
    rules = make_rules()
    renderer = LetterRenderer(templates_dir(), rules)
    data = digest_data()

    class Broken:
        accounts = None  # aging_by_salesperson fails on this ledger

    ahead = AgingAhead(Broken(), data.customers, "EUR", (), tmp_path)
    # Point the inputs at the real ledger, so only the failed work keeps it unused.
    ahead.inputs = (data.ledger, *ahead.inputs[1:])
    assert (
        ahead.result_for(data.ledger, data.customers, "EUR", (), tmp_path) is None
    )
    letter, message = build_manager_digest(
        data, rules, renderer, tmp_path, ahead=ahead
    )
    assert message.get_body(("related",)) is not None
    assert len(list(tmp_path.glob(f"{CHART_PREFIX}*"))) == 1
