"""How one instance goes out on the contexts the peer accepted for its class.

* **As held**, whenever the peer accepted the syntax its file is in: the
  file's data set is streamed as it lies on disk, byte for byte.
* **Converted** to an uncompressed syntax the peer accepted (Explicit VR
  Little Endian first) only when it accepted none we hold, and said so per
  instance ("sent as Explicit VR Little Endian: the peer accepted no JPEG
  2000 Image Compression context"). Encapsulated Pixel Data is decoded by
  :func:`qrscope.core.imaging.decompress`, with the pixel data plugins
  qrscope depends on (:mod:`qrscope.core.imaging.decoders`). Where none
  decodes the syntax (JPEG Extended at 12 bits, or a plugin missing) the
  instance fails with that reason: a peer is never sent data we could not
  convert faithfully.
* **Not at all** when the peer accepted no context for the class: it does
  not take that SOP class from us (PS3.4 B.2.2 status 0x0122 for a C-STORE
  that names it anyway), reported per instance.

A converted copy is written to a temporary file and streamed like a held
one, so neither way holds a whole data set in memory twice.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from qrscope.core.send.selection import SendItem

__all__ = ["Delivery", "NotSendable", "delivery_for"]

# Value representations whose bytes a Big Endian file holds swapped (PS3.5 7.3):
# only Pixel Data among them is converted here; any other stops the conversion.
_SWAPPED_VRS = frozenset({"OW", "OF", "OD", "OL", "OV", "UN"})
_PREFERRED = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)


class NotSendable(Exception):
    """The instance cannot go out on this association; the message says why."""


@dataclass(frozen=True)
class Delivery:
    """What to send for one instance: the file, on which syntax, and why not as held."""

    path: Path
    syntax: str
    note: str = ""
    """Empty when sent as held; else "sent as X: the peer accepted no Y context"."""
    temporary: bool = False

    def discard(self) -> None:
        if self.temporary:
            self.path.unlink(missing_ok=True)


def delivery_for(item: SendItem, accepted: Sequence[str], scratch: Path | None = None,
                 ) -> Delivery:
    """How *item* goes out when the peer accepted *accepted* syntaxes for its class.

    Raises :class:`NotSendable` with the reason when it cannot.
    """
    held = UID(item.transfer_syntax)
    if not accepted:
        raise NotSendable(f"the peer accepted no context for {UID(item.sop_class_uid).name} "
                          f"({item.sop_class_uid})")
    if held in accepted:
        return Delivery(item.path, held)
    target = next((ts for ts in _PREFERRED if ts in accepted), None)
    if target is None:
        raise NotSendable(f"the peer accepted only {', '.join(UID(t).name for t in accepted)} "
                          f"for this class, none of which we hold or can convert to")
    path = _converted(item.path, held, target, scratch)
    return Delivery(path, target, f"sent as {target.name}: the peer accepted no "
                                  f"{held.name} context", temporary=True)


def _converted(path: Path, held: UID, target: UID, scratch: Path | None) -> Path:
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:
        raise NotSendable(f"cannot read {path.name} to convert it: {exc}") from None
    if held.is_compressed:
        _decompress(ds)
    elif held == ExplicitVRBigEndian:
        _to_little_endian(ds)
    ds.file_meta.TransferSyntaxUID = target
    fd, name = tempfile.mkstemp(prefix="qrscope-send-", suffix=".dcm", dir=scratch)
    try:
        with os.fdopen(fd, "wb") as handle:
            pydicom.dcmwrite(handle, ds, implicit_vr=target.is_implicit_VR, little_endian=True,
                             enforce_file_format=True)
    except Exception as exc:
        Path(name).unlink(missing_ok=True)
        raise NotSendable(f"cannot write it as {target.name}: {exc}") from None
    return Path(name)


def _decompress(ds: Dataset) -> None:
    # The imaging (pixel data plugins, numpy, PIL) only when a conversion needs it:
    # most sends convert nothing, and every send's start-up would pay for it.
    from qrscope.core.imaging import CannotDecode, decompress

    try:
        decompress(ds)  # the same instance, decoded: its SOP Instance UID is kept
    except CannotDecode as exc:
        raise NotSendable(str(exc)) from None


def _to_little_endian(ds: Dataset) -> None:
    """Make a data set read as Big Endian writable as Little Endian.

    Text and numbers are decoded values already; only Pixel Data's bytes are
    swapped (through the decoded array). Any other element held as swapped
    bytes (LUTs, waveforms, unknown elements) stops the conversion.
    """
    for element in ds.iterall():
        if element.VR in _SWAPPED_VRS and element.tag != 0x7FE00010:
            raise NotSendable(f"its {element.keyword or element.tag} ({element.VR}) cannot be "
                              "converted from Big Endian safely")
    if "PixelData" in ds:
        if ds.get("SamplesPerPixel", 1) != 1 or ds.BitsAllocated not in (8, 16, 32):
            raise NotSendable("its Big Endian pixel data is not single-sample 8, 16 or 32 bit")
        array = ds.pixel_array
        ds.PixelData = array.astype(array.dtype.newbyteorder("<")).tobytes()
        ds["PixelData"].VR = "OB" if ds.BitsAllocated == 8 else "OW"
    ds.set_original_encoding(False, True)
