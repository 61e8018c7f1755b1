"""Every transfer syntax a PACS sends renders as pydicom itself decodes it (issue 22, point 2).

For each syntax a file in it (pydicom's shipped test files, our own encodings with
the installed encoders, DCMTK's where pydicom encodes none) is rendered with
:func:`render_frame` and compared with pydicom's own decode of the same file: the
values after the Modality LUT equal ``apply_modality_lut(ds.pixel_array)``, the
8-bit pixels equal that through the same window by the standard's formula
(PS3.3 C.11.2.1.2.1, written out here, not pydicom's), colour pixels equal
pydicom's RGB. Lossless encodings of ours are also compared with the array they
were made from. A syntax without an installed decoder is reported, not crashed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut, get_decoder
from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from tests.interop.conftest import require
from tests.interop.peers import find_dcmtk_tool

from qrscope.core.imaging import CannotDecode, Window, decodability, render_frame

_SHIPPED = {
    "ExplicitVRLittleEndian": ("CT_small.dcm", ExplicitVRLittleEndian),
    "ImplicitVRLittleEndian": ("MR_small_implicit.dcm", ImplicitVRLittleEndian),
    "ExplicitVRBigEndian": ("MR_small_bigendian.dcm", ExplicitVRBigEndian),
    "ExplicitVRBigEndian-rgb": ("ExplVR_BigEnd.dcm", ExplicitVRBigEndian),
    "Deflated": ("image_dfl.dcm", DeflatedExplicitVRLittleEndian),
    "RLE": ("MR_small_RLE.dcm", RLELossless),
    "RLE-rgb": ("SC_rgb_rle.dcm", RLELossless),
    "RLE-rgb-16bit-multiframe": ("SC_rgb_rle_16bit_2frame.dcm", RLELossless),
    "JPEGBaseline-ybr": ("SC_rgb_jpeg_dcmtk.dcm", JPEGBaseline8Bit),
    "JPEGBaseline-multiframe": ("examples_ybr_color.dcm", JPEGBaseline8Bit),
    "JPEG-LS": ("MR_small_jpeg_ls_lossless.dcm", JPEGLSLossless),
    "JPEG-LS-near": ("JPEGLSNearLossless_08.dcm", JPEGLSNearLossless),
    "JPEG2000-lossless": ("MR_small_jp2klossless.dcm", JPEG2000Lossless),
    "JPEG2000": ("JPEG2000.dcm", JPEG2000),
    "JPEG2000-lossless-rgb": ("examples_jpeg2k.dcm", JPEG2000Lossless),
    "palette": ("examples_palette.dcm", ExplicitVRLittleEndian),
}


def _by_formula(values: np.ndarray, window: Window, invert: bool) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1, the LINEAR function, to 0..255."""
    c, w = window.center - 0.5, max(window.width, 1.0) - 1
    out = np.where(values <= c - w / 2, 0.0,
                   np.where(values > c + w / 2, 255.0, ((values - c) / max(w, 1e-9) + 0.5) * 255))
    out = np.clip(np.rint(out), 0, 255)
    return 255 - out if invert else out


def _pydicom_frame(path: Path, frame: int) -> tuple[pydicom.Dataset, np.ndarray]:
    ds = pydicom.dcmread(path)
    array = ds.pixel_array
    frames = int(ds.get("NumberOfFrames") or 1)
    return ds, (array[frame] if frames > 1 else array)


def _assert_as_pydicom(path: Path, frame: int = 0) -> None:
    rendered = render_frame(path, frame=frame)
    ds, array = _pydicom_frame(path, frame)
    assert rendered.frames == int(ds.get("NumberOfFrames") or 1)
    if ds.PhotometricInterpretation == "PALETTE COLOR":
        assert rendered.is_color and rendered.pixels.shape == (*array.shape, 3)
        return
    if array.ndim == 3:
        assert rendered.is_color and rendered.window is None
        shift = max(0, int(ds.BitsStored) - 8)
        np.testing.assert_array_equal(rendered.pixels, array.astype(np.int64) >> shift)
        return
    expected = apply_modality_lut(array, ds).astype(np.float64)
    np.testing.assert_array_equal(rendered.values, expected)
    assert rendered.pixels.dtype == np.uint8 and rendered.pixels.shape == array.shape
    invert = ds.PhotometricInterpretation == "MONOCHROME1"
    by_formula = _by_formula(expected, rendered.window, invert)
    assert np.abs(rendered.pixels.astype(int) - by_formula).max() <= 1


@pytest.mark.parametrize("case", sorted(_SHIPPED))
def test_a_shipped_file_renders_as_pydicom_decodes_it(case: str):
    name, syntax = _SHIPPED[case]
    path = Path(get_testdata_file(name))
    assert pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID == syntax
    _assert_as_pydicom(path)


def test_a_later_frame_of_a_multiframe_file_is_that_frame():
    path = Path(get_testdata_file("examples_ybr_color.dcm"))
    _assert_as_pydicom(path, frame=17)


def _ct() -> tuple[pydicom.Dataset, np.ndarray]:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    return ds, ds.pixel_array.copy()


@pytest.mark.parametrize("syntax", [RLELossless, JPEGLSLossless, JPEG2000Lossless],
                         ids=lambda s: UID(s).keyword)
def test_our_own_lossless_encoding_renders_the_original_values(tmp_path: Path, syntax: str):
    ds, original = _ct()
    ds.compress(syntax, generate_instance_uid=False)
    path = tmp_path / "encoded.dcm"
    ds.save_as(path, enforce_file_format=True)
    _assert_as_pydicom(path)
    np.testing.assert_array_equal(render_frame(path).values,
                                  apply_modality_lut(original, ds).astype(np.float64))


def test_htj2k_goes_to_the_only_plugin_that_reads_it(tmp_path: Path):
    """OpenJPEG 2.5 encodes no High-Throughput codestream; an HTJ2K decoder reads a Part 1
    codestream too, so a JPEG 2000 lossless one labelled HTJ2K Lossless tests the path."""
    assert decodability(HTJ2KLossless).plugins == ("pylibjpeg",)
    ds = pydicom.dcmread(get_testdata_file("MR_small_jp2klossless.dcm"))
    expected = ds.pixel_array
    ds.file_meta.TransferSyntaxUID = HTJ2KLossless
    path = tmp_path / "htj2k.dcm"
    ds.save_as(path, enforce_file_format=True)
    np.testing.assert_array_equal(render_frame(path).values,
                                  apply_modality_lut(expected, ds).astype(np.float64))


def _dcmtk(tool: str, options: list[str], source: Path, target: Path) -> Path:
    found = find_dcmtk_tool(tool)
    require(found, "DCMTK not installed (apt-get install dcmtk)")
    subprocess.run([found, *options, str(source), str(target)], check=True,
                   capture_output=True, timeout=60)
    return target


def _eight_bit_mono(tmp_path: Path) -> Path:
    ds, array = _ct()
    scaled = ((array - array.min()) * 255 // max(1, int(np.ptp(array)))).astype(np.uint8)
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    for keyword in ("RescaleSlope", "RescaleIntercept", "SmallestImagePixelValue",
                    "LargestImagePixelValue"):
        if keyword in ds:
            delattr(ds, keyword)
    ds.PixelData = scaled.tobytes()
    path = tmp_path / "mono8.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize(("options", "syntax", "source"), [
    (["+el"], JPEGLossless, "ct"),
    (["+e1"], JPEGLosslessSV1, "ct"),
    (["+eb"], JPEGBaseline8Bit, "mono8"),
    (["+ee"], JPEGExtended12Bit, "mono8"),
], ids=["JPEGLossless", "JPEGLosslessSV1", "JPEGBaseline-mono", "JPEGExtended-8bit"])
def test_dcmtk_jpeg_encodings_render_as_pydicom_decodes_them(tmp_path: Path, options, syntax,
                                                             source):
    plain = (Path(get_testdata_file("CT_small.dcm")) if source == "ct"
             else _eight_bit_mono(tmp_path))
    path = _dcmtk("dcmcjpeg", options, plain, tmp_path / "jpeg.dcm")
    ds = pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == syntax
    _assert_as_pydicom(path)
    if syntax in (JPEGLossless, JPEGLosslessSV1):
        original = pydicom.dcmread(plain).pixel_array
        np.testing.assert_array_equal(ds.pixel_array, original)


def test_dcmtk_jpeg_ls_near_lossless_renders_as_pydicom_decodes_it(tmp_path: Path):
    path = _dcmtk("dcmcjpls", ["+en", "+md", "2"], _eight_bit_mono(tmp_path),
                  tmp_path / "jls.dcm")
    assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == JPEGLSNearLossless
    _assert_as_pydicom(path)


def test_jpeg_extended_at_12_bits_is_reported_not_crashed():
    """No plugin qrscope ships reads 12-bit JPEG (only pylibjpeg-libjpeg, GPL-3.0)."""
    path = Path(get_testdata_file("JPEG-lossy.dcm"))
    verdict = decodability(JPEGExtended12Bit, bits_stored=12)
    assert not verdict.decodable and "12-bit" in verdict.reason
    with pytest.raises(CannotDecode, match="12-bit precision"):
        render_frame(path)


def test_a_syntax_whose_decoder_is_absent_is_reported_with_the_reason(monkeypatch):
    decoder = get_decoder(JPEG2000Lossless)  # as on a machine without the plugins
    monkeypatch.setattr(decoder, "_available", {})
    monkeypatch.setattr(decoder, "_unavailable", {"pylibjpeg": ("pylibjpeg-openjpeg",)})
    verdict = decodability(JPEG2000Lossless)
    assert not verdict.decodable
    assert "no installed pixel data decoder reads JPEG 2000" in verdict.reason
    with pytest.raises(CannotDecode, match="pylibjpeg-openjpeg"):
        render_frame(Path(get_testdata_file("MR_small_jp2klossless.dcm")))


def test_every_syntax_a_pacs_sends_is_decodable_here():
    syntaxes = [ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian,
                DeflatedExplicitVRLittleEndian, RLELossless, JPEGBaseline8Bit, JPEGExtended12Bit,
                JPEGLossless, JPEGLosslessSV1, JPEGLSLossless, JPEGLSNearLossless,
                JPEG2000Lossless, JPEG2000, HTJ2KLossless]
    assert {s: decodability(s).reason for s in syntaxes if not decodability(s).decodable} == {}


def test_a_window_given_is_applied_and_can_be_changed_without_decoding_again():
    path = Path(get_testdata_file("CT_small.dcm"))
    wide = render_frame(path, window=Window(40, 400))
    assert wide.window == Window(40, 400)
    narrow = wide.with_window(Window(40, 80))
    assert narrow.window == Window(40, 80)
    np.testing.assert_array_equal(narrow.pixels, _by_formula(wide.values, Window(40, 80), False))
    assert (narrow.pixels == 255).sum() > (wide.pixels == 255).sum()
