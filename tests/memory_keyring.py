"""A keyring back end in memory, so that tests never touch the user's real keyring.

``memory_keyring`` (a fixture; import it into a test module or conftest)
installs a fresh :class:`MemoryKeyring` as the process's keyring and puts the
previous one back afterwards. Headless CI has no Secret Service; this works
everywhere and lets a test look at everything that was stored.
"""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import keyring.backend
import keyring.errors
import pytest

from qrscope.core.net import secrets

__all__ = ["MemoryKeyring", "memory_keyring"]


class MemoryKeyring(keyring.backend.KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.items.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)
        secrets._session.clear()  # passcodes typed "for this session" end with the test
