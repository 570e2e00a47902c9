"""Render letters through Jinja templates in templates/<language>/.

Each letter has three templates: `<name>.subject.j2`, `<name>.txt.j2` and
`<name>.html.j2`. Undefined variables fail the letter (StrictUndefined), and the
finding names the template line, the variable path and the data row. Autoescape is
on for .html.j2 and off for the subject and .txt.j2. A template that stops compiling
after an edit is reported with its file and line. The renderer keeps using the last
version it compiled until the file is fixed. A template that never compiled in this
renderer fails its letters, and the finding names them.
"""

from __future__ import annotations

import datetime as dt
import logging
import mimetypes
import os
import re
import traceback
from collections.abc import Iterable
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from engine.findings import EngineError, Finding, Severity
from engine.mail.context import CUSTOMER_FIELDS, build_context, item_ids_of
from engine.mail.formatting import (
    format_local_date,
    format_money,
    parse_locale,
    trim_period,
)
from engine.mail.headers import check_header_text, make_address, parse_sender
from engine.mail.letter import Letter
from engine.mail.message import (
    add_alternatives,
    add_header,
    date_header,
    new_message,
    prepare_header,
    set_header,
)
from engine.mail.template_cache import TemplateBytecodeCache
from engine.model import Customer
from engine.rules.model import RuleSet

log = logging.getLogger(__name__)

PARTS = ("subject", "txt", "html")
_UNDEFINED = re.compile(r"^'([^']+)' is undefined$")
_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class TemplateBroken(EngineError):
    """A letter's template does not compile and has no earlier version that did."""

    def __init__(self, finding: Finding, template: str, compile_error: Finding):
        super().__init__(finding)
        self.template = (
            template  # the file, such as templates/fr/reminder_level1.txt.j2
        )
        self.compile_error = compile_error


class PathUndefined(jinja2.StrictUndefined):
    """StrictUndefined whose message names the full variable path: 'customer.salutation'."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        owner = self._undefined_obj
        path = getattr(owner, "path", None)
        if path and isinstance(self._undefined_name, str):
            return f"'{path}.{self._undefined_name}' is undefined"
        if owner is jinja2.utils.missing and self._undefined_name:
            return f"'{self._undefined_name}' is undefined"
        return super()._undefined_message


def _template_line(error: BaseException, templates_dir: Path) -> tuple[str, int | None]:
    """Return the template file and line where a render error was raised."""
    lineno = getattr(error, "lineno", None)
    filename = getattr(error, "filename", None) or getattr(error, "name", None)
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename.endswith(".j2"):
            filename, lineno = frame.filename, frame.lineno
            break
    if filename:
        try:
            filename = str(
                Path(filename).resolve().relative_to(templates_dir.resolve())
            )
        except ValueError:
            pass
    return f"templates/{filename}" if filename else "templates", lineno


class LetterRenderer:
    """Turn letters into EmailMessages with the templates of one templates/ folder."""

    def __init__(
        self,
        templates_dir: Path,
        rules: RuleSet,
        attachments_dir: Path | None = None,
        cache_dir: Path | None = None,
    ):
        """`cache_dir`, when given, keeps compiled templates between passes.

        Compiled templates are also kept in Jinja's per-user cache folder, shared by
        all projects (`engine.mail.template_cache`). An entry is keyed by the
        template's name and source, so an edited template is compiled again.
        """
        self.templates_dir = Path(templates_dir)
        self.rules = rules
        self.attachments_dir = attachments_dir
        self.environment = jinja2.Environment(
            bytecode_cache=TemplateBytecodeCache(cache_dir),
            # FileSystemLoader rejects "..", so names cannot leave templates/.
            loader=jinja2.FileSystemLoader(self.templates_dir),
            autoescape=lambda name: bool(name) and name.endswith(".html.j2"),
            undefined=PathUndefined,
            keep_trailing_newline=True,
            auto_reload=True,
        )
        self.environment.filters["money"] = format_money
        self.environment.filters["date_local"] = format_local_date
        self.environment.filters["trim_period"] = trim_period
        self._last_good: dict[str, jinja2.Template] = {}
        self._folders: dict[tuple[str, str | None], str] = {}
        self._from_header: Any = None

    # Templates

    def check(self) -> list[Finding]:
        """Compile and render every template with sample values; return the failures.

        A template that does not compile gets one finding. Every template that
        compiles is rendered with sample variables of its kind (see
        `engine.mail.samples`), so a misspelled variable is an error finding too.
        """
        from engine.mail.samples import render_with_samples

        findings: list[Finding] = []
        compiled: list[str] = []
        for path in sorted(self.templates_dir.rglob("*.j2")):
            name = path.relative_to(self.templates_dir).as_posix()
            try:
                self._load(name)
            except EngineError as error:
                findings.extend(error.findings)
            else:
                compiled.append(name)
        findings.extend(render_with_samples(self, compiled))
        return findings

    def _load(self, name: str) -> jinja2.Template:
        """Return the template, or its last good version when the file stopped compiling."""
        try:
            template = self.environment.get_template(name)
        except jinja2.TemplateNotFound:
            raise
        except jinja2.TemplateError as error:
            where, lineno = _template_line(error, self.templates_dir)
            if name in self._last_good:
                fix = "Correct the template. Until then the last good version is used."
            else:
                fix = (
                    "Correct the template. Until it compiles, the letters that use "
                    "it are not sent."
                )
            finding = Finding(
                where=f"{where}:{lineno}" if lineno else where,
                message=f"the template does not compile: {str(error.message).rstrip('.')}.",
                fix=fix,
                code="mail-template-invalid",
            )
            if name in self._last_good:
                log.warning("%s Keeping the last good version.", finding)
            raise EngineError(finding) from error
        self._last_good[name] = template
        return template

    def _template(self, name: str, where: str = "the letter") -> jinja2.Template:
        """Return the template or its last good version; raise TemplateBroken if none."""
        try:
            return self._load(name)
        except EngineError as error:
            if name in self._last_good:
                return self._last_good[name]
            compile_error = error.findings[0]
            finding = Finding(
                where=compile_error.where,
                message=f"{compile_error.message.rstrip('.')}, and no earlier version "
                f"compiled, so the letter to {where} is not sent.",
                fix="Correct the template. The letter goes out on the first pass "
                "after it compiles.",
                code="mail-template-invalid",
            )
            raise TemplateBroken(finding, f"templates/{name}", compile_error) from error

    def language_for(self, template: str, language: str | None) -> str:
        """Return the templates/ language folder to use: the customer's, else the fallback.

        The folder is looked up once per template and language in this renderer,
        which lives for one pass.
        """
        key = (template, language)
        folder = self._folders.get(key)
        if folder is None:
            folder = self._folders[key] = self._find_language(template, language)
        return folder

    def _find_language(self, template: str, language: str | None) -> str:
        candidates = []
        locale = parse_locale(language)
        if language:
            candidates.append(language.strip().replace("-", "_"))
        if locale is not None:
            candidates.append(locale.language)
        candidates.append(self.rules.fallback_language)
        for candidate in candidates:
            if (self.templates_dir / candidate / f"{template}.txt.j2").is_file():
                return candidate
        return self.rules.fallback_language

    def check_languages(self, letters: Iterable[Letter]) -> list[Finding]:
        """Return a warning per customer whose language has no templates folder."""
        findings: list[Finding] = []
        reported: set[str] = set()
        for letter in letters:
            customer = letter.customer
            language = (customer.language or "").strip() if customer else ""
            if not language or customer is None or customer.customer_id in reported:
                continue
            folder = self.language_for(letter.template, language)
            locale = parse_locale(language)
            own = {language.replace("-", "_"), locale.language if locale else None}
            if folder in own:
                continue
            reported.add(customer.customer_id)
            findings.append(self._language_finding(letter, customer, folder))
        return findings

    def _language_finding(
        self, letter: Letter, customer: Customer, folder: str
    ) -> Finding:
        folders = sorted(
            path.parent.name
            for path in self.templates_dir.glob(f"*/{letter.template}.txt.j2")
        )
        locale = parse_locale(folder)
        name = locale.get_display_name("en") if locale else folder
        message = (
            f"customer {customer.customer_id} has the language {customer.language!r}, "
            f"for which templates/ has no {letter.template} template, so the letter "
            f"is written in {name} ({folder})."
        )
        if customer.salutation:
            message += (
                f" The salutation {customer.salutation!r} from the sheet is used as "
                "written."
            )
        return Finding(
            where=str(customer.ref),
            message=message,
            fix=f"Enter one of {', '.join(folders)} as the customer's language, or "
            f"add the letter templates in templates/{customer.language}/.",
            severity=Severity.WARNING,
            code="mail-language-fallback",
        )

    # Rendering

    def render_parts(
        self,
        template: str,
        language: str,
        context: dict[str, Any],
        where: str,
        customer: Customer | None = None,
    ) -> tuple[str, str, str]:
        """Render subject, text and HTML of one template; raise EngineError on failure.

        `where` names the letter in findings. With `customer`, a variable of an
        empty customer field is reported at the customer's row.
        """
        if not _TEMPLATE_NAME.match(template):
            raise EngineError(
                Finding(
                    where=where,
                    message=f"the template name {template!r} is invalid.",
                    fix="Use a base name from templates/, such as reminder_level1.",
                    code="mail-template-name",
                )
            )
        folder = self.language_for(template, language)
        rendered = {}
        for part in ("subject", "html", "txt"):
            name = f"{folder}/{template}.{part}.j2"
            try:
                rendered[part] = self._template(name, where).render(context)
            except jinja2.TemplateNotFound as error:
                raise EngineError(
                    Finding(
                        where=f"templates/{name}",
                        message=f"the template is missing ({where}).",
                        fix=f"Create templates/{name} or correct the template name.",
                        code="mail-template-missing",
                    )
                ) from error
            except (
                jinja2.UndefinedError,
                jinja2.TemplateError,
                ValueError,
                TypeError,
            ) as error:
                finding = self._render_failure(error, where, customer)
                raise EngineError(finding) from error
        subject = " ".join(rendered["subject"].split())
        return subject, rendered["txt"], rendered["html"]

    def _render_failure(
        self, error: Exception, where: str, customer: Customer | None
    ) -> Finding:
        """Return the finding for a template that failed while rendering one letter."""
        file, lineno = _template_line(error, self.templates_dir)
        place = f"{file} line {lineno}" if lineno else file
        undefined = _UNDEFINED.match(str(error))
        path = undefined.group(1) if undefined else ""
        field_name = path.removeprefix("customer.")
        if (
            customer is not None
            and path.startswith("customer.")
            and (field_name in CUSTOMER_FIELDS)
        ):
            return Finding(
                where=str(customer.ref),
                message=f"customer {customer.customer_id} has no {field_name}, which "
                f"{place} uses as {path}, so the letter was not rendered.",
                fix=f"Fill in the {field_name} of this customer in the sheet, or "
                "remove the variable from the template.",
                code="mail-render-failed",
            )
        detail = str(error).rstrip(".")
        if undefined:
            fix = "Correct the variable name in the template."
        else:
            fix = "Correct the template."
        return Finding(
            where=place,
            message=f"the template failed for {where}: {detail}.",
            fix=fix,
            code="mail-render-failed",
        )

    def render(self, letter: Letter) -> EmailMessage:
        """Render a letter into a message with text and HTML parts; raise EngineError."""
        context = build_context(letter, self.rules)
        subject, text, html = self.render_parts(
            letter.template, letter.language, context, letter.where, letter.customer
        )
        message = self.compose(letter, subject, text, html)
        for path in self._attachments_for(letter):
            _attach_file(message, path)
        return message

    def render_letters(
        self, letters: Iterable[Letter]
    ) -> tuple[list[tuple[Letter, EmailMessage]], list[Finding]]:
        """Render letters; return the messages and the findings for those that failed.

        Letters whose template never compiled get one finding per template file,
        naming every letter that is not sent because of it.
        """
        messages: list[tuple[Letter, EmailMessage]] = []
        findings: list[Finding] = []
        broken: dict[str, tuple[Finding, list[Letter]]] = {}
        for letter in letters:
            try:
                messages.append((letter, self.render(letter)))
            except TemplateBroken as error:
                entry = broken.setdefault(error.template, (error.compile_error, []))
                entry[1].append(letter)
            except EngineError as error:
                findings.extend(error.findings)
                log.warning(
                    "letter for %s not rendered: %s", letter.recipient_id, error
                )
        for compile_error, failed in broken.values():
            finding = _letters_not_sent(compile_error, failed)
            log.warning("%s", finding)
            findings.append(finding)
        return messages, findings

    def compose(
        self, letter: Letter, subject: str, text: str, html: str
    ) -> EmailMessage:
        """Build the EmailMessage headers and alternative parts for a rendered letter."""
        where = letter.where
        message = new_message()
        add_header(message, "From", self._sender_header())
        customer = letter.customer
        display = None
        if customer is not None:
            display = customer.contact or customer.name
        to = [make_address(display, address, where) for address in letter.to]
        set_header(message, "To", to)
        if letter.cc:
            cc = [make_address(None, address, where) for address in letter.cc]
            set_header(message, "Cc", cc)
        set_header(message, "Subject", check_header_text(subject, "subject", where))
        add_header(message, "Date", date_header(format_datetime(self.now())))
        set_header(message, "Message-ID", letter.message_id(self.rules.contacts.sender))
        set_header(message, "X-Arrears-Guard-Key", letter.key)
        set_header(message, "X-Arrears-Guard-Items", item_ids_of(letter) or "-")
        # Quoted-printable keeps the body 7-bit. With short lines the email package
        # would pick 8bit, and such a message needs SMTPUTF8 or 8BITMIME to be sent.
        add_alternatives(message, text, html)
        return message

    def now(self) -> dt.datetime:
        """Return the time for the Date header, in the rules' time zone."""
        return dt.datetime.now(ZoneInfo(self.rules.timezone))

    def _sender_header(self):
        """Return the From header, checked and parsed once per renderer."""
        if self._from_header is None:
            sender = parse_sender(self.rules.contacts.sender, "rules: contacts.sender")
            self._from_header = prepare_header("From", sender, shared=True)
        return self._from_header

    def _attachments_for(self, letter: Letter) -> list[Path]:
        """Return files in the attachments folder whose names contain a letter's invoice id."""
        if self.attachments_dir is None or not letter.items:
            return []
        ids = [item.item_id for item in letter.items]
        return [
            path
            for path in sorted(self.attachments_dir.iterdir())
            if path.is_file() and any(item_id in _display_name(path) for item_id in ids)
        ]


def _letters_not_sent(compile_error: Finding, letters: list[Letter]) -> Finding:
    """Return the finding for a template that never compiled, naming its letters."""
    names = ", ".join(
        f"{letter.kind.replace('_', '-')} to {letter.recipient_id}"
        for letter in letters
    )
    count = "1 letter is" if len(letters) == 1 else f"{len(letters)} letters are"
    return Finding(
        where=compile_error.where,
        message=f"{compile_error.message.rstrip('.')}, and no earlier version "
        f"compiled, so {count} not sent: {names}.",
        fix="Correct the template. These letters go out on the first pass after it "
        "compiles.",
        code="mail-template-invalid",
    )


def _display_name(path: Path) -> str:
    """Return a file name as Unicode even when the process locale is ASCII.

    Under LC_ALL=C with PYTHONUTF8=0 Python decodes file names with surrogate escapes,
    so the name is re-encoded to bytes and decoded as UTF-8, the encoding every
    supported file system uses for names.
    """
    return os.fsencode(path.name).decode("utf-8", errors="replace")


def _attach_file(message: EmailMessage, path: Path) -> None:
    """Attach a file by its bytes; the policy writes a non-ASCII name as RFC 2231."""
    name = _display_name(path)
    mime, _ = mimetypes.guess_type(name)
    maintype, _, subtype = (mime or "application/octet-stream").partition("/")
    message.add_attachment(
        path.read_bytes(), maintype=maintype, subtype=subtype, filename=name
    )
