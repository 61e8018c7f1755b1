"""Batch retrieval: a list of studies (a spreadsheet, a text file), resolved by
C-FIND, fetched unattended as one job of the job service, and reported.

- :mod:`~qrscope.core.batch.input`: CSV, TSV, XLSX and text into items.
- :mod:`~qrscope.core.batch.items`: an item, what it resolved to, its status.
- :mod:`~qrscope.core.batch.resolve`: each item to its studies (C-FIND).
- :mod:`~qrscope.core.batch.runner`: the items fetched, each state kept.
- :mod:`~qrscope.core.batch.report`: the report, CSV and JSON, as it goes.
- :mod:`~qrscope.core.batch.pace`: how many retrieves a node is given at once,
  adapted to how it answers; :mod:`~qrscope.core.batch.window`: when a node
  may be asked at all.

The room sits below :mod:`qrscope.core.jobs`, whose service runs a batch as
one of its job kinds and whose store keeps the items.
"""
