"""C-MOVE faults in the sending: images after the final answer, images gone elsewhere.

'final-before-images': some servers in the field report "N sub-operations completed" and only then
start sending (not allowed: PS3.4 C.4.2.3.1 says the final response comes
after the sub-operations). To show it, the C-MOVE's own C-STOREs are
accepted on the spot without being sent; once all are queued, a thread waits
for the final response to leave and sends them on a new association.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.events import Event

__all__ = ["LateSender", "PartialSender"]

_LOGGER = logging.getLogger("qrscope.demo_pacs")


class LateSender:
    def __init__(self, ae_title: str, destination: tuple[str, int], destination_ae: str,
                 contexts: list[Any], originator: str, expected: int,
                 delay: float = 0.5) -> None:
        self._ae_title = ae_title
        self._destination = destination
        self._destination_ae = destination_ae
        self._contexts = contexts
        self._originator = originator
        self._expected = expected
        self._delay = delay
        self._queued: list[tuple[Dataset, int | None]] = []

    def on_established(self, event: Event) -> None:
        """Replace the move association's C-STORE with 'say yes now, send later'."""

        def accept_now(dataset: Dataset, msg_id: int = 1, priority: int = 2,
                       originator_aet: str | None = None,
                       originator_id: int | None = None) -> Dataset:
            self._queued.append((dataset, originator_id))
            if len(self._queued) == self._expected:
                threading.Thread(target=self._send_later, daemon=True,
                                 name="demo-late-sender").start()
            status = Dataset()
            status.Status = 0x0000
            return status

        event.assoc.send_c_store = accept_now  # type: ignore[method-assign]

    def send_later(self, datasets: list[Dataset], originator_id: int | None) -> None:
        """Send *datasets* after the delay, whatever the move association does."""
        self._queued = [(dataset, originator_id) for dataset in datasets]
        threading.Thread(target=self._send_later, daemon=True, name="demo-late-sender").start()

    def _send_later(self) -> None:
        time.sleep(self._delay)  # the final C-MOVE response leaves meanwhile
        ae = AE(ae_title=self._ae_title)
        assoc = ae.associate(*self._destination, contexts=self._contexts,
                             ae_title=self._destination_ae)
        if not assoc.is_established:
            _LOGGER.warning("late sender could not reach %s:%d", *self._destination)
            return
        for dataset, originator_id in self._queued:
            assoc.send_c_store(dataset, originator_aet=self._originator,
                               originator_id=originator_id)
        assoc.release()
        _LOGGER.info("sent %d instance(s) after the final response (fault)", len(self._queued))


class PartialSender:
    """The 'fewer-images' fault: every other image is counted as sent but goes nowhere.

    Shows what a user sees when the PACS delivers part of a retrieve to
    another program registered under our AE title: the PACS reports them
    completed, our listener never gets them.
    """

    def __init__(self, originator: str) -> None:
        self._originator = originator
        self._count = 0

    def on_established(self, event: Event) -> None:
        send = event.assoc.send_c_store

        def every_other(dataset: Dataset, msg_id: int = 1, priority: int = 2,
                        originator_aet: str | None = None,
                        originator_id: int | None = None) -> Dataset:
            self._count += 1
            if self._count % 2 == 0:
                status = Dataset()
                status.Status = 0x0000
                return status
            return send(dataset, msg_id=msg_id, priority=priority,
                        originator_aet=self._originator, originator_id=originator_id)

        event.assoc.send_c_store = every_other  # type: ignore[method-assign]
