"""One frame of an image, decoded and made displayable: :func:`render_frame`.

The pipeline is the standard's grayscale and colour pipelines (PS3.3
C.11, PS3.4 N.2) as pydicom implements them, up to 8-bit pixels a screen
shows: the Modality LUT (Rescale Slope/Intercept or a Modality LUT
Sequence), then a VOI window (the file's first Window Center/Width, else
one spanning the 0.5th to 99.5th percentile of the frame's values), then
MONOCHROME1 inverted; PALETTE COLOR through its lookup tables, YBR_* to RGB.
Enhanced multi-frame objects keep rescale and window per frame in their
functional groups (PS3.3 C.7.6.16): the shared and the frame's own values
override the top-level ones.

Only the frame asked for is decoded (``pydicom.pixels.pixel_array`` with
``index``): a thumbnail of a 600-frame cine decodes one frame, not 600.
A viewer changes window/level with :meth:`RenderedFrame.with_window`,
without decoding again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_windowing, pixel_array
from pydicom.pixels.utils import get_nr_frames
from pydicom.uid import DeflatedExplicitVRLittleEndian
from pydicom.valuerep import DS

from qrscope.core.imaging.decoders import CannotDecode, decodability

__all__ = ["NoPixels", "RenderedFrame", "Window", "read_header", "render_frame"]

_PERCENTILES = (0.5, 99.5)
_PERCENTILE_SAMPLES = 262_144  # enough for a stable percentile; a 4k x 4k frame is 16 M
# Attributes of the Modality LUT and VOI LUT modules a frame's rendering needs.
_PIPELINE_KEYWORDS = ("PhotometricInterpretation", "BitsStored", "PixelRepresentation",
                      "RescaleSlope", "RescaleIntercept", "RescaleType", "ModalityLUTSequence",
                      "WindowCenter", "WindowWidth", "VOILUTFunction")
_FRAME_GROUPS = ("PixelValueTransformationSequence", "FrameVOILUTSequence")


class NoPixels(Exception):
    """The object holds no image pixel data (an SR, a PDF, an RT Plan...)."""


@dataclass(frozen=True)
class Window:
    """A VOI window (PS3.3 C.11.2.1.2): values in *center* +- *width*/2 span black to white."""

    center: float
    width: float


@dataclass(frozen=True, eq=False)
class RenderedFrame:
    """One frame ready to show: 8-bit gray (H x W) or RGB (H x W x 3)."""

    pixels: np.ndarray
    frame: int
    frames: int
    window: Window | None
    """The window applied; None for colour images (shown as they are)."""
    default_window: Window | None
    """The file's window for this frame, else the one from the data's range."""
    photometric: str
    values: np.ndarray | None = None
    """Grayscale values after the Modality LUT (float), for re-windowing; None for colour."""
    voi_function: str = "LINEAR"
    invert: bool = False

    @property
    def is_color(self) -> bool:
        return self.pixels.ndim == 3

    def with_window(self, window: Window) -> RenderedFrame:
        """The same frame under another window (grayscale only; colour is returned as is)."""
        if self.values is None:
            return self
        pixels = _windowed(self.values, window, self.voi_function, self.invert)
        return replace(self, pixels=pixels, window=window)


def read_header(path: Path) -> Dataset:
    """The data set of *path* up to its pixel data; :class:`CannotDecode` if not DICOM."""
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError,
            AttributeError) as exc:
        raise CannotDecode(f"cannot read {Path(path).name} as DICOM: {exc}") from None


def render_frame(path: Path, frame: int = 0, window: Window | None = None) -> RenderedFrame:
    """Decode frame *frame* (0-based) of *path* and render it, with *window* if given.

    Raises :class:`NoPixels` for an object without an image, :class:`CannotDecode`
    (with the reason) when its pixel data cannot be read here, :class:`IndexError`
    for a frame the object does not have.
    """
    header = read_header(path)
    if "Rows" not in header or "BitsAllocated" not in header:
        raise NoPixels(f"{_class_name(header)} holds no image")
    frames = get_nr_frames(header, warn=False)
    if not 0 <= frame < frames:
        raise IndexError(f"frame {frame} of an object of {frames} frame(s)")
    syntax = header.file_meta.get("TransferSyntaxUID", "")
    verdict = decodability(syntax, header.get("BitsStored"))
    if not verdict.decodable:
        raise CannotDecode(verdict.reason)
    try:
        array = _decode(path, syntax, frame)
    except AttributeError as exc:  # pydicom: "no pixel data element"
        raise NoPixels(f"{_class_name(header)} holds no pixel data ({exc})") from None
    except Exception as exc:  # a plugin's own error: a corrupt or unsupported stream
        raise CannotDecode(f"decoding frame {frame} failed: {exc}") from None
    return _render(header, array, frame, frames, window)


def _decode(path: Path, syntax: str, frame: int) -> np.ndarray:
    """Frame *frame* alone, read from the file; a deflated data set is inflated whole first
    (PS3.5 A.5: the whole data set is one deflate stream, there is no seeking in it)."""
    if syntax == DeflatedExplicitVRLittleEndian:
        return pixel_array(pydicom.dcmread(path), index=frame)
    return pixel_array(path, index=frame)


def _class_name(header: Dataset) -> str:
    uid = header.get("SOPClassUID") or header.file_meta.get("MediaStorageSOPClassUID", "")
    return getattr(uid, "name", None) or str(uid) or "this object"


def _render(header: Dataset, array: np.ndarray, frame: int, frames: int,
            window: Window | None) -> RenderedFrame:
    photometric = str(header.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(array, header)
        bits = int(header.RedPaletteColorLookupTableDescriptor[2])
        return RenderedFrame(_to_8_bit(rgb, bits), frame, frames, None, None, photometric)
    if array.ndim == 3:  # RGB; pydicom converts YBR_FULL(_422), the JPEG 2000 codecs ICT/RCT
        bits = int(header.get("BitsStored", 8))
        return RenderedFrame(_to_8_bit(array, bits), frame, frames, None, None, photometric)
    attributes = _frame_attributes(header, frame)
    values = np.asarray(apply_modality_lut(array, attributes), dtype=np.float64)
    default = _file_window(attributes) or _data_window(values)
    function = str(attributes.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
    if function not in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
        function = "LINEAR"
    invert = photometric == "MONOCHROME1"
    shown = window or default
    return RenderedFrame(_windowed(values, shown, function, invert), frame, frames, shown,
                         default, photometric, values, function, invert)


def _frame_attributes(header: Dataset, frame: int) -> Dataset:
    """The pipeline's attributes for *frame*: top level, then shared, then per-frame groups."""
    attributes = Dataset()
    for keyword in _PIPELINE_KEYWORDS:
        if keyword in header:
            setattr(attributes, keyword, header[keyword].value)
    groups = []
    if header.get("SharedFunctionalGroupsSequence"):
        groups.append(header.SharedFunctionalGroupsSequence[0])
    per_frame = header.get("PerFrameFunctionalGroupsSequence") or []
    if frame < len(per_frame):
        groups.append(per_frame[frame])
    for group in groups:
        for sequence in _FRAME_GROUPS:
            for item in group.get(sequence) or []:
                for element in item:
                    if element.keyword in _PIPELINE_KEYWORDS:
                        setattr(attributes, element.keyword, element.value)
    return attributes


def _first(value: object) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, list | tuple | pydicom.multival.MultiValue):
        return float(value[0]) if len(value) else None
    return float(value)  # type: ignore[arg-type]


def _file_window(attributes: Dataset) -> Window | None:
    center = _first(attributes.get("WindowCenter"))
    width = _first(attributes.get("WindowWidth"))
    if center is None or width is None or width <= 0:
        return None
    return Window(center, width)


def _data_window(values: np.ndarray) -> Window:
    """A window over the bulk of the values: robust to a few extreme pixels (padding, metal)."""
    flat = values.ravel()
    sample = flat[::max(1, flat.size // _PERCENTILE_SAMPLES)]
    low, high = (float(v) for v in np.percentile(sample, _PERCENTILES))
    if high <= low:
        high = low + 1.0
    return Window((low + high) / 2, high - low)


def _windowed(values: np.ndarray, window: Window, function: str, invert: bool) -> np.ndarray:
    """*values* through *window* to 0..255, with pydicom's VOI (PS3.3 C.11.2.1.2)."""
    voi = Dataset()
    voi.PhotometricInterpretation = "MONOCHROME2"
    voi.BitsStored = 8  # with no rescale here, pydicom's output range is then 0..255
    voi.PixelRepresentation = 0
    voi.WindowCenter = DS(window.center, auto_format=True)
    voi.WindowWidth = DS(max(window.width, 1.0), auto_format=True)
    voi.VOILUTFunction = function
    out = np.clip(np.rint(apply_windowing(values, voi)), 0, 255).astype(np.uint8)
    return 255 - out if invert else out


def _to_8_bit(array: np.ndarray, bits: int) -> np.ndarray:
    if array.dtype == np.uint8 and bits <= 8:
        return array
    shift = max(0, bits - 8)
    return np.clip(array.astype(np.int64) >> shift, 0, 255).astype(np.uint8)
