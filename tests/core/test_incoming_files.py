"""How a received data set reaches the disk: held in memory while small, a file
beyond that, and a name that is durable with the data or not given at all."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from qrscope.core import files
from qrscope.core.engine.pynetdicom_private import (
    HELD_IN_MEMORY,
    IncomingFile,
    finish_incoming,
    reads_held_data,
)


class _Receiving(threading.Thread):
    """An association's reader thread, as pynetdicom runs it, with its C-STORE handler."""

    def __init__(self, handler) -> None:
        super().__init__()
        self.assoc = SimpleNamespace(get_handlers=lambda event: (handler, None))


def _incoming(folder: Path, handler) -> IncomingFile:
    made: list[IncomingFile] = []
    reader = _Receiving(handler)
    reader.run = lambda: made.append(IncomingFile(folder, suffix=".dcm"))
    reader.start()
    reader.join(30)
    return made[0]


@reads_held_data
def _ours(event) -> int:
    return 0


def _theirs(event) -> int:
    return 0


def test_a_small_data_set_stays_in_memory_and_makes_no_file(tmp_path: Path):
    incoming = _incoming(tmp_path, _ours)
    incoming.write(b"x" * 1000)
    incoming.file.flush()
    finished = finish_incoming(Path(incoming.name))
    assert finished is incoming and finished.error is None
    assert finished.held() == b"x" * 1000
    assert list(tmp_path.iterdir()) == []


def test_another_handler_gets_the_file_pynetdicom_promises(tmp_path: Path):
    incoming = _incoming(tmp_path, _theirs)
    incoming.write(b"x" * 1000)
    incoming.file.flush()
    finished = finish_incoming(Path(incoming.name))
    assert finished is not None and finished.held() is None
    assert Path(incoming.name).read_bytes() == b"x" * 1000


def test_a_large_data_set_goes_to_a_file_from_the_fragment_that_crosses_the_limit(tmp_path):
    incoming = _incoming(tmp_path, _ours)
    fragment = b"y" * (HELD_IN_MEMORY // 2 + 1)
    for _ in range(3):
        incoming.write(fragment)
        incoming.file.flush()
    finished = finish_incoming(Path(incoming.name))
    assert finished is not None and finished.held() is None
    assert Path(incoming.name).read_bytes() == fragment * 3


def test_a_data_set_with_nowhere_to_go_is_read_and_dropped_with_the_reason(tmp_path):
    blocked = tmp_path / "store"
    blocked.write_text("a file where the folder should be")
    incoming = _incoming(blocked / ".incoming", _ours)
    incoming.write(b"z" * (HELD_IN_MEMORY + 1))
    finished = finish_incoming(Path(incoming.name))
    assert finished is not None and isinstance(finished.error, OSError)
    assert finished.held() is None


def test_a_file_that_cannot_be_flushed_loses_its_name_again(tmp_path, monkeypatch):
    def no_flush(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", no_flush)
    target = tmp_path / "series" / "instance.dcm"
    with pytest.raises(files.StorageFlushError):
        files.create_exclusive(target, b"data")
    assert not target.exists()
    assert [p.name for p in target.parent.iterdir()] == []


def test_an_existing_name_is_never_replaced(tmp_path):
    target = tmp_path / "instance.dcm"
    assert files.create_exclusive(target, b"first")
    assert not files.create_exclusive(target, b"second")
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["instance.dcm"]
