"""Pixels of the local archive: decoding, rendering, thumbnails, objects without pixels.

No Qt here: the window shows what these functions return (8-bit arrays, PNG
files, text), from worker threads.

* :func:`decodability` - can a transfer syntax be decoded here, and if not why;
* :func:`render_frame` - one frame, windowed, ready to show (:class:`RenderedFrame`);
* :func:`describe_object` - an SR, PDF, RT Plan, waveform... as a typed placeholder;
* :func:`make_thumbnail` - a series' cached thumbnail and its recorded state
  (:func:`known_thumbnail` without making it; :mod:`.apart` makes it in a worker process).
"""

from qrscope.core.imaging.decoders import (
    CannotDecode,
    Decodability,
    decodability,
    decompress,
    pixel_support,
)
from qrscope.core.imaging.frames import NoPixels, RenderedFrame, Window, render_frame
from qrscope.core.imaging.objects import ObjectSummary, describe_object
from qrscope.core.imaging.thumbnails import (
    THUMBNAIL_FOLDER,
    ThumbnailResult,
    UnknownSeries,
    known_thumbnail,
    make_thumbnail,
    thumbnail_file,
)

__all__ = ["THUMBNAIL_FOLDER", "CannotDecode", "Decodability", "NoPixels", "ObjectSummary",
           "RenderedFrame", "ThumbnailResult", "UnknownSeries", "Window", "decodability",
           "decompress", "describe_object", "known_thumbnail", "make_thumbnail", "pixel_support",
           "render_frame", "thumbnail_file"]
