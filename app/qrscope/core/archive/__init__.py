"""The local archive: what this computer holds, indexed, imported, checked and deleted.

Two rooms. :mod:`qrscope.core.archive.index` (the SQLite index of the
storage folder: schema, rows, queries, reconciliation with the files) sits
below :mod:`qrscope.core.receive`, so that filing a received instance can
write its row. The operations on top (import, delete) sit above it: an
import files copies through the same :class:`InstanceStore` as a C-STORE.
"""
