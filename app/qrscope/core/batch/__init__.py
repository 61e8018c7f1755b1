"""Batch retrieval: many studies from a list, fetched unattended, resumably and gently.

The room sits above the job service (a batch is one of its jobs) and below the
front ends. ``pace`` decides how many retrieves a node is given at once and
``window`` when a node may be asked at all.
"""
