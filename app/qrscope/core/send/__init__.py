"""Sending on: C-STORE of what the local archive holds to another node (issue 22).

- :mod:`~qrscope.core.send.selection`: what to send (patients, studies, series)
  and the archive's instances it names.
- :mod:`~qrscope.core.send.contexts`: the presentation contexts proposed, per
  SOP class each syntax held and the uncompressed ones, packed into
  associations of at most 128.
- :mod:`~qrscope.core.send.convert`: how an instance goes out on what the peer
  accepted: as held, or converted (and why), or not at all (and why).
- :mod:`~qrscope.core.send.types`: progress, per-instance results, the outcome.
- :mod:`~qrscope.core.send.job`: :class:`SendJob`, one send with progress and cancel.
"""

from qrscope.core.send.job import SendJob
from qrscope.core.send.selection import SendItem, SendSelection, items_to_send
from qrscope.core.send.types import SendOutcome, SendProgress, SendResult, SendState

__all__ = ["SendItem", "SendJob", "SendOutcome", "SendProgress", "SendResult", "SendSelection",
           "SendState", "items_to_send"]
