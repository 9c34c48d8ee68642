"""``dagster_celery``'s run launcher, with a worker-liveness check that survives a dead host.

Why a subclass: ``CeleryRunLauncher.check_run_worker_health`` reads the Celery task state from
the result backend. When the worker process running a run is SIGKILLed alone, its Celery parent
records ``FAILURE`` and run monitoring fails the run. When the whole worker goes (host lost,
``SIGKILL`` to the service, OOM killer on the parent), nobody writes a state: the task stays
``STARTED`` forever and the run with it (dagster-celery 0.29.27). So for a ``STARTED`` task this
launcher also pings the worker the task started on (its hostname is in the ``STARTED`` meta); a
worker that answers none of ``ping_attempts`` pings is reported ``FAILED`` and run monitoring
marks the run failed on its next poll. Everything else — launching, resuming, terminating — is
dagster-celery's own.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from dagster import DagsterRun, Field, IntSource
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._serdes import ConfigurableClassData
from dagster_celery.launcher import CeleryRunLauncher
from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG


class AsteriskCeleryRunLauncher(CeleryRunLauncher):
    """``CeleryRunLauncher`` whose health check also asks the worker itself."""

    def __init__(  # noqa: PLR0913 - Dagster builds it from dagster.yaml: one keyword per config key
        self,
        default_queue: str,
        broker: str | None = None,
        backend: str | None = None,
        include: list[str] | None = None,
        config_source: dict[str, object] | None = None,
        inst_data: ConfigurableClassData | None = None,
        ping_timeout_seconds: int = 2,
        ping_attempts: int = 3,
    ) -> None:
        self.ping_timeout_seconds = ping_timeout_seconds
        self.ping_attempts = ping_attempts
        super().__init__(
            default_queue=default_queue, broker=broker, backend=backend, include=include,
            config_source=config_source, inst_data=inst_data,
        )

    @classmethod
    def config_type(cls) -> Any:
        schema = dict(cast("Mapping[str, Any]", super().config_type()))
        schema["ping_timeout_seconds"] = Field(
            IntSource, is_required=False, default_value=2,
            description="How long one ping of a run's worker waits for the answer.",
        )
        schema["ping_attempts"] = Field(
            IntSource, is_required=False, default_value=3,
            description="Pings a run's worker must leave unanswered before the run is failed.",
        )
        return schema

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        health = super().check_run_worker_health(run)
        if health.status != WorkerStatus.RUNNING:
            return health
        info = self.celery.AsyncResult(run.tags[DAGSTER_CELERY_TASK_ID_TAG]).info
        hostname = info.get("hostname") if isinstance(info, dict) else None
        if not hostname:
            return health
        for _ in range(self.ping_attempts):
            if self.celery.control.ping(destination=[hostname], timeout=self.ping_timeout_seconds):
                return health
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"Celery worker {hostname} (pid {info.get('pid')}) that started this run answers no "
            f"ping ({self.ping_attempts} × {self.ping_timeout_seconds} s): the worker or its host "
            "is gone. Re-execute the run (its finished days are kept, the one in progress was "
            "rolled back).",
        )
