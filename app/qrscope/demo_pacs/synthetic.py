"""Images drawn with numpy for the demo PACS samples.

pydicom ships no CR, DX or ultrasound file, yet plain radiographs are the
bread and butter of any PACS and old ultrasound archives are in every one,
so small phantoms are drawn here. The drawings use
only closed-form numpy expressions (no random numbers), so every build
writes the same pixels.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

__all__ = ["SEGMENTATION_STORAGE", "ULTRASOUND_IMAGE_STORAGE_RETIRED", "synthetic_cr",
           "synthetic_dx", "synthetic_segmentation", "synthetic_us"]

_DX_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
_CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
# Retired in 1996 (PS3.4 2003 still lists it), yet archives migrated from
# old PACS hold plenty of it.
ULTRASOUND_IMAGE_STORAGE_RETIRED = "1.2.840.10008.5.1.4.1.1.6"
_US_SIZE = 128
SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
_SEG_FRAMES = 2
_SIZE = 256
_BITS_STORED = 12
_MAX_VALUE = (1 << _BITS_STORED) - 1


def synthetic_dx(lateral: bool) -> Dataset:
    """Return a 256x256 chest-like DX image in Explicit VR Little Endian.

    Parameters
    ----------
    lateral : bool
        Draw the lateral view (one lung field) instead of the PA view.
    """
    y, x = _grid()
    body = _ellipse(x, y, 0.0, 0.05, 0.85, 0.95)
    if lateral:
        lungs = _ellipse(x, y, 0.05, -0.05, 0.45, 0.6)
    else:
        lungs = _ellipse(x, y, -0.38, -0.05, 0.28, 0.6) | _ellipse(x, y, 0.38, -0.05, 0.28, 0.6)
    ribs = 0.5 + 0.5 * np.cos(18.0 * y)
    image = 0.15 + 0.65 * body - 0.45 * lungs * (0.8 - 0.2 * ribs)
    ds = _radiograph(_DX_FOR_PRESENTATION, image, view="LL" if lateral else "PA")
    ds.PresentationIntentType = "FOR PRESENTATION"
    return ds


def synthetic_cr(variant: int) -> Dataset:
    """Return a 256x256 hand-like CR image, RLE Lossless encoded by pydicom.

    Parameters
    ----------
    variant : int
        Spreads the fingers a little more for each variant, so the images
        of a series differ.
    """
    y, x = _grid()
    palm = _ellipse(x, y, 0.0, 0.45, 0.5, 0.45)
    fingers = np.zeros_like(palm)
    spread = 0.04 * variant
    for offset in (-0.36, -0.12, 0.12, 0.36):
        centre = offset * (1.0 + spread)
        fingers |= _ellipse(x, y, centre, -0.3, 0.08, 0.45)
    bone = 0.5 + 0.5 * np.cos(25.0 * (x + y))
    image = 0.1 + 0.7 * (palm | fingers) * (0.85 + 0.15 * bone)
    ds = _radiograph(_CR_IMAGE_STORAGE, image, view="PA")
    # pydicom's own RLE encoder is pure numpy, always available and
    # deterministic, so the set gains a second RLE image without a plugin.
    ds.compress(RLELossless, encoding_plugin="pydicom")
    return ds


def synthetic_us() -> Dataset:
    """Return a 128x128 8-bit sector scan in Ultrasound Image Storage (Retired).

    A fan of speckle-like bands with a dark, round "cyst" in it; Explicit VR
    Little Endian, MONOCHROME2.
    """
    y, x = _grid(_US_SIZE)
    radius = np.hypot(x, y + 1.0)
    angle = np.arctan2(x, y + 1.0)
    fan = (np.abs(angle) < 0.6) & (radius > 0.2) & (radius < 1.9)
    texture = 0.55 + 0.25 * np.cos(40.0 * radius) * np.cos(23.0 * angle)
    cyst = _ellipse(x, y, 0.1, 0.1, 0.18, 0.15)
    image = fan * texture * ~cyst
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ULTRASOUND_IMAGE_STORAGE_RETIRED
    ds.ImageType = ["ORIGINAL", "PRIMARY", "ABDOMINAL"]
    pixels = (np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    ds.set_pixel_data(pixels, "MONOCHROME2", 8, generate_instance_uid=False)
    return ds


def synthetic_segmentation(rows: int, columns: int) -> Dataset:
    """Return a FRACTIONAL Segmentation (PS3.3 A.51) of one segment over two frames, RLE.

    What a cardiac ultrasound AI tool stores beside a cine loop: the left
    ventricle as a probability map (8 bits, PS3.3 C.8.20.2: Bits Allocated 8
    for FRACTIONAL), an ellipse that shrinks from the first frame to the
    second. Encoded RLE Lossless by pydicom's own encoder (deterministic, no
    plugin). The caller links it to its source images (Common Instance
    Reference, Derivation Image) and gives it its identity.
    """
    frames = []
    for frame in range(_SEG_FRAMES):
        axis_y, axis_x = np.linspace(-1.0, 1.0, rows), np.linspace(-1.0, 1.0, columns)
        y, x = np.meshgrid(axis_y, axis_x, indexing="ij")
        scale = 1.0 - 0.2 * frame
        distance = np.hypot((x + 0.1) / (0.35 * scale), (y - 0.05) / (0.5 * scale))
        frames.append((np.clip(1.5 - distance, 0.0, 1.0) * 255).astype(np.uint8))
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = SEGMENTATION_STORAGE
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.Manufacturer = "qrscope"
    ds.ManufacturerModelName = "demo segmenter"
    ds.DeviceSerialNumber = "0001"
    ds.SoftwareVersions = "1"
    ds.ContentLabel = "LV"
    ds.ContentDescription = "Left ventricle"
    ds.ContentCreatorName = "Segmenter^Demo"
    ds.SegmentationType = "FRACTIONAL"
    ds.SegmentationFractionalType = "PROBABILITY"
    ds.MaximumFractionalValue = 255
    ds.LossyImageCompression = "00"
    ds.SegmentSequence = [_segment()]
    ds.set_pixel_data(np.stack(frames), "MONOCHROME2", 8, generate_instance_uid=False)
    ds.compress(RLELossless, encoding_plugin="pydicom")
    return ds


def _segment() -> Dataset:
    """Segment 1: the left ventricle, coded in SNOMED CT (PS3.16 CID 7150 / 7151)."""
    item = Dataset()
    item.SegmentNumber = 1
    item.SegmentLabel = "Left ventricle"
    item.SegmentAlgorithmType = "SEMIAUTOMATIC"
    item.SegmentAlgorithmName = "demo"
    item.SegmentedPropertyCategoryCodeSequence = [_code("91723000", "Anatomical Structure")]
    item.SegmentedPropertyTypeCodeSequence = [_code("87878005", "Left ventricle")]
    return item


def _code(value: str, meaning: str) -> Dataset:
    code = Dataset()
    code.CodeValue = value
    code.CodingSchemeDesignator = "SCT"
    code.CodeMeaning = meaning
    return code


def _grid(size: int = _SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Return (y, x) coordinates spanning -1..1 over the image."""
    axis = np.linspace(-1.0, 1.0, size)
    y, x = np.meshgrid(axis, axis, indexing="ij")
    return y, x


def _ellipse(
    x: np.ndarray, y: np.ndarray, cx: float, cy: float, rx: float, ry: float
) -> np.ndarray:
    return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0


def _radiograph(sop_class_uid: str, image: np.ndarray, view: str) -> Dataset:
    pixels = (np.clip(image, 0.0, 1.0) * _MAX_VALUE).astype(np.uint16)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class_uid
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.ViewPosition = view
    ds.PatientOrientation = ["L", "F"] if view == "LL" else ["R", "F"]
    ds.set_pixel_data(pixels, "MONOCHROME2", _BITS_STORED, generate_instance_uid=False)
    ds.WindowCenter = _MAX_VALUE // 2
    ds.WindowWidth = _MAX_VALUE
    return ds
