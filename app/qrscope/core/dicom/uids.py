"""The UID rule: pydicom's PS3.5 9.1 check, strict or liberal by what the UID is for.

Strict is PS3.5 9.1 as pydicom's ``UID.is_valid`` has it: at most 64
characters, digits and dots, no empty component and no leading zero. It
applies where qrscope vouches for the value: a file named after it, a
retrieve's unique keys.

Liberal keeps the length and the characters and forgives the component
faults (a leading zero, an empty component) that some PACS put in their
own UIDs: passed back to that PACS as a matching key, such a value still
matches, and refusing it would make the study unreachable.

Neither rule strips: padding a peer added to a received value (PS3.5 6.2,
trailing NUL or space) is removed by whatever reads the value, so a rule
that sees whitespace is looking at something other than a UID.
"""

from __future__ import annotations

from pydicom import config
from pydicom.uid import UID

__all__ = ["MAX_UID_LENGTH", "is_valid_uid"]

MAX_UID_LENGTH = 64  # PS3.5 9.1
_UID_CHARACTERS = frozenset("0123456789.")


def is_valid_uid(value: str, *, strict: bool = True) -> bool:
    """Whether *value*, exactly as given, is a UID under the strict or liberal rule."""
    if not value or len(value) > MAX_UID_LENGTH or not set(value) <= _UID_CHARACTERS:
        return False
    # UID() strips whitespace, which the character check above already excludes.
    return not strict or UID(value, validation_mode=config.IGNORE).is_valid
