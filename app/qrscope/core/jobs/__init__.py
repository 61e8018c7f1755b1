"""The job service: every retrieve is a job with an id, a place in its node's queue
and a record on disk, so that the window and the command line share one way of
running them and unfinished jobs come back after a restart.

- :mod:`~qrscope.core.jobs.records`: ``JobRecord`` and ``JobState``, plain values.
- :mod:`~qrscope.core.jobs.store`: ``JobStore``, the SQLite file the records live in.
- :mod:`~qrscope.core.jobs.service`: ``JobService``: queues per node, pace, cancel,
  resume.
"""

from qrscope.core.jobs.records import JobRecord, JobState
from qrscope.core.jobs.service import RETRIEVES_PER_NODE, JobService
from qrscope.core.jobs.store import JOBS_FILE, JobStore, jobs_path_beside

__all__ = ["JOBS_FILE", "RETRIEVES_PER_NODE", "JobRecord", "JobService", "JobState",
           "JobStore", "jobs_path_beside"]
