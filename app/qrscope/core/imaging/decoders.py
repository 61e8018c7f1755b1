"""Which transfer syntaxes this installation can decode, and why not where it cannot.

Pixel data is decoded by pydicom's pixel data plugins (``pydicom.pixels``):
pydicom itself reads the uncompressed syntaxes, Deflated and RLE Lossless;
the compressed ones need a plugin package. qrscope depends on these (all
under licences an MIT application may ship; see README "Pixel data"):

* ``python-gdcm`` (GDCM, BSD; the wrapper Apache-2.0): JPEG Baseline,
  Extended (8-bit), Lossless (Process 14 and SV1), JPEG-LS, JPEG 2000;
* ``pylibjpeg`` + ``pylibjpeg-openjpeg`` (MIT, OpenJPEG BSD-2): JPEG 2000
  and High-Throughput JPEG 2000 (the only plugin for HTJ2K);
* ``pyjpegls`` (MIT, CharLS BSD-3): JPEG-LS;
* ``Pillow`` (MIT-CMU/HPND): JPEG Baseline and JPEG 2000.

Not ``pylibjpeg-libjpeg``: it is GPL-3.0. It is the only plugin that reads
JPEG Extended at 12-bit precision, which is therefore reported as not
decodable here rather than failing deep in a plugin.

Callers ask :func:`decodability` first and show its reason instead of
crashing; :func:`decompress` is the one way the rest of qrscope decodes a
whole data set (sending converts with it, :mod:`qrscope.core.send.convert`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.pixels import get_decoder
from pydicom.uid import UID, JPEGExtended12Bit

__all__ = ["CannotDecode", "Decodability", "decodability", "decompress"]

# The plugins that read JPEG Extended at 12-bit precision; GDCM and Pillow read 8-bit only.
_TWELVE_BIT_JPEG_PLUGINS = frozenset({"pylibjpeg"})


class CannotDecode(Exception):
    """The pixel data cannot be decoded here; the message says why, for a person."""


@dataclass(frozen=True)
class Decodability:
    """Whether pixel data in one transfer syntax can be decoded here, and why not."""

    decodable: bool
    reason: str = ""
    """Empty when decodable; else e.g. "no installed pixel data decoder reads JPEG Lossless"."""
    plugins: tuple[str, ...] = ()
    """The installed pydicom plugins that decode it (empty for the uncompressed syntaxes)."""


def decodability(transfer_syntax: str, bits_stored: int | None = None) -> Decodability:
    """Can pixel data in *transfer_syntax* be decoded with the plugins installed here?

    *bits_stored*, when known, settles JPEG Extended (PS3.5 A.4.1: 8 or 12
    bit precision), which only some plugins read at 12 bits.
    """
    syntax = UID(transfer_syntax)
    name = syntax.name if syntax.is_valid and syntax.name != syntax else transfer_syntax
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        return Decodability(False, f"pydicom has no decoder for {name}")
    if not decoder.is_available:
        needs = "; ".join(decoder.missing_dependencies) or "a plugin"
        return Decodability(False, f"no installed pixel data decoder reads {name} "
                                   f"(pydicom needs one of: {needs})")
    plugins = tuple(decoder.available_plugins)
    if syntax == JPEGExtended12Bit and (bits_stored or 8) > 8:
        plugins = tuple(p for p in plugins if p in _TWELVE_BIT_JPEG_PLUGINS)
        if not plugins:
            return Decodability(False, f"no installed pixel data decoder reads {name} at "
                                       f"{bits_stored}-bit precision (only pylibjpeg-libjpeg "
                                       "does, which is GPL-3.0 and not used by qrscope)")
    return Decodability(True, "", plugins)


def decompress(ds: Dataset) -> None:
    """Decode *ds*'s encapsulated Pixel Data in place (Explicit VR Little Endian after).

    The SOP Instance UID is kept: it is the same instance, decoded.
    Raises :class:`CannotDecode` with the reason.
    """
    syntax = UID(ds.file_meta.TransferSyntaxUID)
    verdict = decodability(syntax, ds.get("BitsStored"))
    if not verdict.decodable:
        raise CannotDecode(verdict.reason)
    try:
        ds.decompress(generate_instance_uid=False)
    except Exception as exc:  # a plugin's own error: corrupt or unsupported stream
        raise CannotDecode(f"decoding its {syntax.name} pixel data failed: {exc}") from None
