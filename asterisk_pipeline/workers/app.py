"""The Celery app a worker host runs: ``celery -A asterisk_pipeline.workers.app worker -n NAME@%h``.

Broker, result backend and queue are read from the run launcher of ``$DAGSTER_HOME/dagster.yaml``
— the same file the daemon launches runs with — so a worker cannot listen where the launcher does
not send. Nothing else is shared with the other hosts: the worker reaches PostgreSQL (Dagster's
storage and the warehouse) and Redis, and keeps its own ``DAGSTER_HOME`` and ``ASTERISK_HOME``.

Each run executes in its own process (``worker_max_tasks_per_child = 1``) forked from the worker,
which loaded the code location once at start: a run starts without a code load, gets a fresh
interpreter state, and gives its memory back when it ends. Jobs stay on the in-process executor —
a Celery prefork child is a daemon process and cannot fork a multiprocess executor's steps.
The code is what the worker loaded when it started: after deploying new code, restart the
workers (``systemctl restart 'asterisk-dagster-worker@*'``) with the webserver and the daemon.

Every run a worker starts gets the tags ``asterisk/celery_worker`` (the worker's node name) and
``asterisk/code_version`` (a digest of the package sources this worker loaded), so the UI shows
where and with which code each run ran.
"""
from __future__ import annotations

import hashlib
import logging
import os
import sys
from typing import Any

from celery import Celery
from celery.signals import task_prerun, worker_ready
from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.instance.ref import InstanceRef
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import unpack_value
from dagster_celery.config import TASK_EXECUTE_JOB_NAME
from dagster_celery.launcher import CeleryRunLauncher
from dagster_celery.tasks import create_execute_job_task, create_resume_job_task
from kombu import Queue

import asterisk_pipeline.defs  # preloaded: every run's process forks with it loaded

from ..names import TAG_CELERY_WORKER, TAG_CODE_VERSION


def _instance_launcher() -> CeleryRunLauncher:
    # DAGSTER_HOME is Dagster's own variable (the task reads the instance from it too); an
    # InstanceRef builds the launcher without opening storage connections in the parent.
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise RuntimeError("DAGSTER_HOME is not set: a worker needs the instance's dagster.yaml")
    launcher = InstanceRef.from_dir(home).run_launcher
    if not isinstance(launcher, CeleryRunLauncher):
        raise TypeError(
            f"{home}/dagster.yaml has no Celery run_launcher (found {type(launcher).__name__}): "
            "use deploy/dagster.yaml"
        )
    return launcher


def loaded_code_version() -> str:
    """A digest of the sources of every ``asterisk_pipeline`` module this process imported."""
    digest = hashlib.sha256()
    for name in sorted(m for m in sys.modules if m.split(".")[0] == "asterisk_pipeline"):
        path = getattr(sys.modules[name], "__file__", None)
        if path and path.endswith(".py"):
            digest.update(name.encode())
            with open(path, "rb") as source:
                digest.update(hashlib.sha256(source.read()).digest())
    return digest.hexdigest()[:16]


LAUNCHER = _instance_launcher()
app: Celery = LAUNCHER.celery
app.conf.update(
    # make_app() declares a queue named "dagster"; listen on the one the launcher sends to.
    task_queues=[Queue(LAUNCHER.default_queue, routing_key=f"{LAUNCHER.default_queue}.#")],
    task_default_queue=LAUNCHER.default_queue,
    worker_concurrency=1,  # runs at once per worker; `-c N` overrides
    worker_max_tasks_per_child=1,
    # Acknowledge a run's message when it ends: with the default early ack a worker busy with
    # one run still reserves the next, which an idle worker could have started. A message of a
    # worker that died is delivered again after the visibility timeout; Dagster ignores a second
    # start of a run that is already started or finished (run monitoring on).
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    broker_transport_options={**app.conf.broker_transport_options, "visibility_timeout": 43200},
    broker_connection_retry_on_startup=True,
)
execute_job = create_execute_job_task(app)
resume_job = create_resume_job_task(app)
CODE_VERSION = loaded_code_version()


@task_prerun.connect
def _tag_run(task: Any = None, kwargs: dict[str, Any] | None = None, **_: Any) -> None:
    """Record on the run which worker runs it and with which code (before the run starts)."""
    if task is None or task.name != TASK_EXECUTE_JOB_NAME or not kwargs:
        return
    args = unpack_value(kwargs["execute_job_args_packed"], as_type=ExecuteRunArgs)
    with DagsterInstance.get() as instance:
        run = instance.get_run_by_id(args.run_id)
        if run is None or run.status not in (DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING):
            return  # a delivery Dagster will ignore (the run started elsewhere or ended)
        instance.add_run_tags(
            args.run_id,
            {TAG_CELERY_WORKER: str(task.request.hostname), TAG_CODE_VERSION: CODE_VERSION},
        )


@worker_ready.connect
def _say_what_runs(sender: Any = None, **_: Any) -> None:
    logging.getLogger(__name__).warning(
        "asterisk-pipeline worker %s: queue %s, code %s from %s",
        getattr(sender, "hostname", "?"), LAUNCHER.default_queue, CODE_VERSION,
        os.path.dirname(asterisk_pipeline.defs.__file__ or "?"),
    )
