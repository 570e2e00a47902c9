"""Compiled templates reused by another project folder, with that folder's file names."""

from __future__ import annotations

import shutil
from pathlib import Path

import jinja2
import pytest
from mail_factories import make_rules, templates_dir

from engine.findings import EngineError
from engine.mail.render import LetterRenderer
from engine.mail.samples import sample_context
from engine.mail.template_cache import TemplateBytecodeCache, entry_key

NAME = "en/reminder_level1.txt.j2"


def project_templates(folder: Path) -> Path:
    templates = folder / "templates"
    shutil.copytree(templates_dir(), templates)
    return templates


def forbid_compiling(renderer: LetterRenderer) -> None:
    """Make the renderer fail on any template it would compile instead of load."""

    def compile_template(source, name=None, filename=None, raw=False, defer_init=False):
        raise AssertionError(f"{name} was compiled, not loaded from the cache")

    renderer.environment.compile = compile_template


@pytest.fixture
def two_projects(tmp_path) -> tuple[Path, Path, Path]:
    """Return two template folders with equal content and one project cache folder."""
    first = project_templates(tmp_path / "first")
    second = project_templates(tmp_path / "second")
    return first, second, tmp_path / "cache"


def test_second_project_loads_compiled_templates(two_projects):
    first, second, cache = two_projects
    assert LetterRenderer(first, make_rules(), cache_dir=cache).check() == []

    renderer = LetterRenderer(second, make_rules(), cache_dir=cache)
    forbid_compiling(renderer)

    assert renderer.check() == []
    template = renderer.environment.get_template(NAME)
    assert template.filename == str(second / "en" / "reminder_level1.txt.j2")


def test_loaded_template_renders_same_text(two_projects):
    first, second, cache = two_projects
    rules = make_rules()
    context = sample_context("reminder_level1", "en", rules)
    compiled = LetterRenderer(first, rules, cache_dir=cache)
    expected = compiled.render_parts("reminder_level1", "en", context, "the letter")

    loaded = LetterRenderer(second, rules, cache_dir=cache)
    forbid_compiling(loaded)

    assert (
        loaded.render_parts("reminder_level1", "en", context, "the letter") == expected
    )


def test_render_error_names_own_project_file(two_projects):
    first, second, cache = two_projects
    for templates in (first, second):
        (templates / "en" / "reminder_level1.txt.j2").write_text(
            "Line one\n{{ customer.nme }}\n", encoding="utf-8"
        )
    rules = make_rules()
    context = sample_context("reminder_level1", "en", rules)
    LetterRenderer(first, rules, cache_dir=cache).environment.get_template(NAME)

    renderer = LetterRenderer(second, rules, cache_dir=cache)
    forbid_compiling(renderer)
    with pytest.raises(EngineError) as caught:
        renderer.render_parts("reminder_level1", "en", context, "the letter")

    finding = caught.value.findings[0]
    assert finding.where == "templates/en/reminder_level1.txt.j2 line 2"


def test_sample_check_names_own_project_file(two_projects):
    first, second, cache = two_projects
    for templates in (first, second):
        (templates / "en" / "thank_you.subject.j2").write_text(
            "Thank you\n{{ customer.nme }}\n", encoding="utf-8"
        )
    LetterRenderer(first, make_rules(), cache_dir=cache).check()

    findings = LetterRenderer(second, make_rules(), cache_dir=cache).check()

    assert [finding.where for finding in findings] == [
        "templates/en/thank_you.subject.j2:2"
    ]


def test_edited_template_compiled_again(two_projects):
    first, second, cache = two_projects
    LetterRenderer(first, make_rules(), cache_dir=cache).check()
    (second / "en" / "thank_you.subject.j2").write_text("{% if %}\n", encoding="utf-8")

    findings = LetterRenderer(second, make_rules(), cache_dir=cache).check()

    assert [finding.code for finding in findings] == ["mail-template-invalid"]
    assert findings[0].where == "templates/en/thank_you.subject.j2:1"


def test_project_cache_filled_from_shared_cache(two_projects):
    first, _, cache = two_projects
    LetterRenderer(first, make_rules(), cache_dir=cache).check()
    shutil.rmtree(cache)
    renderer = LetterRenderer(first, make_rules(), cache_dir=cache)
    forbid_compiling(renderer)

    assert renderer.check() == []

    names = [path.relative_to(first).as_posix() for path in first.rglob("*.j2")]
    assert len(list(cache.iterdir())) == len(names)


def test_key_depends_on_escaping_and_source():
    environment = jinja2.Environment(
        autoescape=lambda name: name.endswith(".html.j2"),
        bytecode_cache=TemplateBytecodeCache(shared=False),
    )
    text = entry_key(environment, "en/a.txt.j2", "{{ x }}")

    assert entry_key(environment, "en/a.txt.j2", "{{ x }}") == text
    assert entry_key(environment, "en/a.html.j2", "{{ x }}") != text
    assert entry_key(environment, "en/a.txt.j2", "{{ y }}") != text
    environment.filters["money"] = str
    assert entry_key(environment, "en/a.txt.j2", "{{ x }}") != text
