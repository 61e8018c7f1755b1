"""At launch the keyring's backend is chosen in a worker, not on the GUI thread (issue 21)."""

from __future__ import annotations

import threading

import keyring

from qrscope.ui import app


def test_the_keyring_backend_is_chosen_off_the_gui_thread(monkeypatch):
    chosen: list[threading.Thread] = []
    done = threading.Event()

    def get_keyring():
        chosen.append(threading.current_thread())
        done.set()

    monkeypatch.setattr(keyring, "get_keyring", get_keyring)
    app._choose_keyring_early()
    assert done.wait(30)
    assert chosen[0] is not threading.main_thread()

