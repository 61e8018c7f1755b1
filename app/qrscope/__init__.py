"""qrscope: a DICOM query/retrieve client that explains why a retrieve fails."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("qrscope")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
