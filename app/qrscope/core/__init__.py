"""The DICOM engine: profiles, query, retrieve, listener, storage and logs.

Nothing in this package imports Qt, so the command line, the tests and the
GUI (through ``qrscope.ui.bridge``) all drive the same code.
"""
