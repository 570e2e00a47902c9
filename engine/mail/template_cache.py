"""Compiled letter templates kept between runs and shared between projects.

Compiling the 69 shipped templates took 0.2 to 0.35 s in `LetterRenderer.check` on
the 2-core benchmark VM, a fixed cost of every pass, `check` and watcher start.
Jinja's own `FileSystemBytecodeCache` keys an entry by the template's name and file
path, so a new project folder compiles every template again, although its templates
are copies of the shipped ones. This cache keys an entry by the template's name, its
source and the environment settings that shape the compiled code. It looks for an
entry in the project's cache folder, when the caller gives one, and then in Jinja's
default per-user cache folder. Jinja creates that folder in the temporary folder
with mode 0700 and checks that it belongs to the user.

Python stores the file path a template was compiled from in its code objects, and
Jinja takes the template's `filename`, shown in errors and tracebacks, from there.
A loaded entry therefore gets the path of the file being loaded.
"""

from __future__ import annotations

import hashlib
import logging
import types
from pathlib import Path

import jinja2
from jinja2.bccache import Bucket

log = logging.getLogger(__name__)

FORMAT = 1


class TemplateBytecodeCache(jinja2.BytecodeCache):
    """A bytecode cache keyed by template name and source, in one or more folders."""

    def __init__(self, folder: Path | None = None, shared: bool = True):
        self.folders: list[jinja2.FileSystemBytecodeCache] = []
        if folder is not None:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                log.warning("project template cache not used: %s", error)
            else:
                self.folders.append(jinja2.FileSystemBytecodeCache(str(folder)))
        if shared:
            try:
                self.folders.append(jinja2.FileSystemBytecodeCache())
            except (RuntimeError, OSError) as error:
                # Jinja raises RuntimeError when the folder belongs to another user
                # or others may write to it.
                log.info("shared template cache not used: %s", error)

    def get_bucket(
        self,
        environment: jinja2.Environment,
        name: str,
        filename: str | None,
        source: str,
    ) -> Bucket:
        key = entry_key(environment, name, source)
        bucket = Bucket(environment, key, self.get_source_checksum(source))
        self.load_bytecode(bucket)
        if bucket.code is not None and filename:
            bucket.code = with_filename(bucket.code, filename)
        return bucket

    def load_bytecode(self, bucket: Bucket) -> None:
        """Load the entry from the first folder that has it, copying it to earlier ones."""
        for index, cache in enumerate(self.folders):
            load_entry(cache, bucket)
            if bucket.code is not None:
                for earlier in self.folders[:index]:
                    dump_entry(earlier, bucket)
                return

    def dump_bytecode(self, bucket: Bucket) -> None:
        for cache in self.folders:
            dump_entry(cache, bucket)


def load_entry(cache: jinja2.FileSystemBytecodeCache, bucket: Bucket) -> None:
    """Load the entry from one folder; a damaged entry leaves the bucket empty."""
    try:
        cache.load_bytecode(bucket)
    # Unpickling the checksum of a truncated or overwritten file can raise nearly any
    # exception type, and the template is then compiled again and the entry rewritten.
    except Exception as error:  # noqa: BLE001
        log.warning(
            "damaged compiled template %s in %s ignored: %s: %s",
            bucket.key,
            cache.directory,
            type(error).__name__,
            error,
        )
        bucket.reset()
        return
    if bucket.code is not None and not isinstance(bucket.code, types.CodeType):
        log.warning(
            "damaged compiled template %s in %s ignored: it contains no code object",
            bucket.key,
            cache.directory,
        )
        bucket.reset()


def dump_entry(cache: jinja2.FileSystemBytecodeCache, bucket: Bucket) -> None:
    """Store the entry in one folder; a folder that cannot be written is skipped."""
    try:
        cache.dump_bytecode(bucket)
    except OSError as error:
        log.debug("compiled template not cached in %s: %s", cache.directory, error)


def entry_key(environment: jinja2.Environment, name: str, source: str) -> str:
    """Return the cache key of a template: its name, source and the compile settings."""
    digest = hashlib.sha256()
    for part in (repr(compile_settings(environment, name)), name, source):
        digest.update(part.encode("utf-8", "surrogateescape"))
        digest.update(b"\0")
    return digest.hexdigest()


def compile_settings(environment: jinja2.Environment, name: str) -> tuple:
    """Return the environment settings that change the code Jinja compiles for `name`."""
    autoescape = environment.autoescape
    if callable(autoescape):
        autoescape = autoescape(name)
    return (
        FORMAT,
        jinja2.__version__,
        environment.block_start_string,
        environment.block_end_string,
        environment.variable_start_string,
        environment.variable_end_string,
        environment.comment_start_string,
        environment.comment_end_string,
        environment.line_statement_prefix,
        environment.line_comment_prefix,
        environment.trim_blocks,
        environment.lstrip_blocks,
        environment.newline_sequence,
        environment.keep_trailing_newline,
        environment.optimized,
        environment.is_async,
        environment.finalize is not None,
        bool(autoescape),
        tuple(sorted(environment.filters)),
        tuple(sorted(environment.tests)),
        tuple(sorted(environment.extensions)),
    )


def with_filename(code: types.CodeType, filename: str) -> types.CodeType:
    """Return `code` with `filename` as the file of it and of every nested code object."""
    if code.co_filename == filename:
        return code
    constants = tuple(
        with_filename(constant, filename)
        if isinstance(constant, types.CodeType)
        else constant
        for constant in code.co_consts
    )
    return code.replace(co_filename=filename, co_consts=constants)
