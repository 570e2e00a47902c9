"""The outbox transport makes its folder once and again when it was removed."""

from __future__ import annotations

import shutil

import pytest

from engine.mail.transport import SENT, OutboxTransport


def test_outbox_folder_made_on_connect(tmp_path):
    outbox = tmp_path / "outbox"
    transport = OutboxTransport(outbox)
    assert transport.connect() is None
    assert outbox.is_dir()


def test_outbox_folder_made_again_when_removed(tmp_path):
    outbox = tmp_path / "outbox"
    transport = OutboxTransport(outbox)
    transport.connect()
    shutil.rmtree(outbox)

    assert transport.connect() is None
    result = transport.send(b"Subject: test\r\n\r\nbody\r\n", "letter")

    assert result.status == SENT
    assert (outbox / "letter.eml").read_bytes() == b"Subject: test\r\n\r\nbody\r\n"
    assert list(outbox.glob(".*")) == []


def test_outbox_path_taken_by_file(tmp_path):
    """A file where the folder belongs fails the first connect, as mkdir does."""
    outbox = tmp_path / "outbox"
    outbox.write_text("not a folder")
    with pytest.raises(FileExistsError):
        OutboxTransport(outbox).connect()
