"""The engine gate: the tuned engine only on a tested pynetdicom release, stock otherwise."""

from __future__ import annotations

import time

import pytest

from qrscope.core.engine.choice import (
    ENGINE_VARIABLE,
    PIECES,
    TESTED_PYNETDICOM,
    EngineName,
    choose,
    current,
)

TESTED = TESTED_PYNETDICOM[0]


@pytest.mark.parametrize(("version", "requested", "engine", "why"), [
    (TESTED, None, EngineName.TUNED, "a tested release"),
    (TESTED, "", EngineName.TUNED, "a tested release"),
    (TESTED, "tuned", EngineName.TUNED, "a tested release"),
    (TESTED, " Stock ", EngineName.STOCK, f"{ENGINE_VARIABLE}=stock"),
    (TESTED, "fast", EngineName.TUNED, "neither 'tuned' nor 'stock'"),
    ("3.0.5", None, EngineName.STOCK, f"tested with pynetdicom {TESTED} only"),
    ("3.1.0", "tuned", EngineName.STOCK, f"tested with pynetdicom {TESTED} only"),
    ("3.0.4.dev0", None, EngineName.STOCK, "tested with pynetdicom"),
    ("3.1.0", "stock", EngineName.STOCK, f"{ENGINE_VARIABLE}=stock"),
])
def test_the_engine_follows_the_release_and_the_users_request(version, requested, engine, why):
    choice = choose(version, requested)
    assert choice.name is engine
    assert why in choice.reason
    assert choice.pynetdicom_version == version
    assert choice.describe().startswith(f"{engine} pynetdicom {version} (")


def test_this_process_runs_on_the_engine_the_suite_asked_for(monkeypatch):
    """The suite runs once per engine (scripts/run-tests.sh); each run must really be on it."""
    import os

    import pynetdicom

    expected = choose(pynetdicom.__version__, os.environ.get(ENGINE_VARIABLE))
    assert current() == expected


def test_the_stock_engine_leaves_pynetdicom_as_it_ships():
    """On stock pynetdicom not one of its names is replaced."""
    from pynetdicom import association, dimse_messages, dul
    from pynetdicom.dul import DULServiceProvider
    from pynetdicom.transport import AssociationSocket

    from qrscope.core.engine import prompt_release
    from qrscope.core.engine.setup import prepare

    choice = prepare()
    replaced = {
        "Association.kill": prompt_release.installed(),
        "association.DULServiceProvider": association.DULServiceProvider is not DULServiceProvider,
        "dimse_messages.encode": getattr(dimse_messages.encode, "qrscope_fast", False),
        "AssociationSocket.recv": getattr(AssociationSocket.recv, "qrscope_large", False),
        "dul.time": dul.time is not time,
    }
    if choice.tuned:
        assert all(replaced.values()), replaced
    else:
        assert not any(replaced.values()), replaced


@pytest.mark.parametrize(("off", "left_out", "lane"), [
    ("", set(), True),
    ("data_lane", {"data_lane"}, False),
    (" quick_ack , encodings,nonsense", {"quick_ack", "encodings"}, True),
    ("reactors", {"reactors"}, False),  # the lane is read by the tuned reactor
    ("send_lane", {"send_lane"}, True),
    ("prompt_release", {"prompt_release"}, True),
])
def test_pieces_of_the_tuned_engine_can_be_left_out_by_name(off, left_out, lane):
    choice = choose(TESTED, None, off)
    assert choice.left_out == left_out
    assert choice.uses("data_lane") is lane
    # Both lanes rely on the tuned reactors: leaving those out leaves them out.
    on_reactors = {"data_lane", "send_lane"}
    assert all(choice.uses(piece) is (piece not in left_out and (
        piece not in on_reactors or "reactors" not in left_out)) for piece in PIECES)
    if left_out:
        assert f"without {', '.join(sorted(left_out))}" in choice.describe()
    with pytest.raises(ValueError, match="no engine piece"):
        choice.uses("turbo")


def test_stock_pynetdicom_uses_no_piece():
    assert not any(choose("3.1.0", None).uses(piece) for piece in PIECES)
    assert not any(choose(TESTED, "stock").uses(piece) for piece in PIECES)


def test_the_listeners_server_base_has_every_member_the_listener_relies_on(monkeypatch):
    """On every pynetdicom the suite runs with; a release without one fails here first."""
    from qrscope.core.engine import server_base

    assert server_base.missing_members() == []

    class Moved:  # a release whose server lost its admission hook
        def __init__(self, address, ae_title, contexts, ssl_context=None): ...
        def get_request(self): ...

    monkeypatch.setattr(server_base, "ThreadedAssociationServer", Moved)
    assert "verify_request" in server_base.missing_members()
    assert "ssl_context" not in server_base.missing_members()
