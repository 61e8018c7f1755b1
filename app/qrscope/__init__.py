"""qrscope: a DICOM query/retrieve client that explains why a retrieve fails."""

# The one place the version is written: pyproject.toml reads it from here
# (``dynamic = ["version"]``), and so do ``qrscope --version``, the About box,
# support bundles and the PyInstaller bundle, which has no package metadata.
__version__ = "0.1.0"
