"""The batch view: a list of studies pasted or opened, reviewed, then fetched as one job.

- :mod:`~qrscope.ui.batch.place`: the three pages put together, and what they ask
  of the core (the window shows :attr:`BatchPlace.view` as its "Batches" place).
- :mod:`~qrscope.ui.batch.input_page`: the list, its columns, the node and options.
- :mod:`~qrscope.ui.batch.review_page`: what each row resolved to, before anything
  is fetched.
- :mod:`~qrscope.ui.batch.run_page`: the batch as it runs: progress, pace, items.
- :mod:`~qrscope.ui.batch.bridge`: reading and resolving off the GUI thread.
- :mod:`~qrscope.ui.batch.models`: the items as a table.
"""
