"""The production Dagster instance: runs on Celery workers over dagster-postgres storage.

``launcher`` (the run launcher) and ``storage`` (dagster-postgres with pooled connections) are
imported by every process of the instance (``deploy/dagster.yaml``); ``app`` only by a worker
(``celery -A asterisk_pipeline.workers.app worker``): it loads the code location.
"""
