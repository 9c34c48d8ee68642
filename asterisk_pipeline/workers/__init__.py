"""Dagster runs on Celery workers: the run launcher the daemon uses and the app workers run.

``launcher`` is imported by the webserver and the daemon (``deploy/dagster.yaml``); ``app`` only
by a worker (``celery -A asterisk_pipeline.workers.app worker``): it loads the code location.
"""
