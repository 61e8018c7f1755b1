"""Qt item models: results, jobs and the association log, appended in batches."""
