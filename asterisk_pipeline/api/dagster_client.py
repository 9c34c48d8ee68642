"""A small client of the Dagster webserver's GraphQL API: the sidecar starts work only here.

Why GraphQL and not the Python API: runs and backfills launched through the webserver are
ordinary Dagster runs (queued, visible in the UI, subject to the instance's concurrency rules),
and the sidecar never imports the code location (DESIGN.md: ``api/`` does not import ``defs/``).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..warehouse.db import mask_url

#: Run statuses that mean "queued or running" (Dagster's DagsterRunStatus names).
ACTIVE_RUN_STATUSES = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")
FINISHED_RUN_STATUSES = ("SUCCESS", "FAILURE", "CANCELED")
#: Backfill statuses that mean it is finished (BulkActionStatus names).
FINISHED_BACKFILL_STATUSES = (
    "COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED", "FAILING",
)


class DagsterUnavailable(Exception):
    """The webserver did not answer, or answered with an error (message safe to show)."""


@dataclass(frozen=True)
class Repository:
    """Where the code location's jobs live (a GraphQL ``RepositorySelector``)."""

    location: str
    name: str

    def selector(self) -> dict[str, str]:
        return {"repositoryLocationName": self.location, "repositoryName": self.name}


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    status: str
    tags: dict[str, str] = field(default_factory=dict)
    start_time: float | None = None
    end_time: float | None = None
    created_time: float | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_RUN_STATUSES


@dataclass(frozen=True)
class BackfillInfo:
    backfill_id: str
    status: str
    tags: dict[str, str]
    runs: list[RunInfo]

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_BACKFILL_STATUSES and not any(
            not r.finished for r in self.runs
        )


_RUN_FIELDS = "runId status creationTime startTime endTime tags { key value }"


def run_info(node: dict[str, Any]) -> RunInfo:
    return RunInfo(
        run_id=node["runId"],
        status=node["status"],
        tags={t["key"]: t["value"] for t in node.get("tags") or []},
        start_time=node.get("startTime"),
        end_time=node.get("endTime"),
        created_time=node.get("creationTime"),
    )


class DagsterClient:
    """Synchronous (the sidecar calls it on its own few threads, see ``gate.py``); one HTTP
    connection pool.

    Timeouts: ``connect_timeout_s`` is short (a webserver that does not accept within it is
    down); ``timeout_s`` bounds each read/write, so a hung (e.g. SIGSTOPped) webserver costs a
    caller at most that long."""

    def __init__(self, base_url: str, *, timeout_s: float = 10.0, connect_timeout_s: float = 3.0) -> None:
        self.base_url = base_url.rstrip("/")
        timeout = httpx.Timeout(timeout_s, connect=min(connect_timeout_s, timeout_s))
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self._repository: Repository | None = None

    def close(self) -> None:
        self._http.close()

    # --- plumbing -----------------------------------------------------------------------------

    def query(self, document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The ``data`` of a GraphQL answer; DagsterUnavailable for anything that is not one."""
        try:
            response = self._http.post(
                "/graphql", json={"query": document, "variables": variables or {}}
            )
        except httpx.HTTPError as exc:
            raise DagsterUnavailable(
                f"Dagster webserver at {mask_url(self.base_url)} unreachable: {type(exc).__name__}"
            ) from exc
        if response.status_code != 200:
            raise DagsterUnavailable(
                f"Dagster webserver at {mask_url(self.base_url)} answered HTTP {response.status_code}"
            )
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("data") or payload.get("errors"),
                                                           dict | list):
            kind = response.headers.get("content-type", "no content type").split(";")[0]
            raise DagsterUnavailable(
                f"Dagster webserver at {self.base_url} answered HTTP 200 with {kind} that is not a "
                "GraphQL answer: is ASTERISK_DAGSTER_URL the Dagster webserver?"
            )
        if payload.get("errors"):
            first = payload["errors"][0] if isinstance(payload["errors"], list) else payload["errors"]
            message = first.get("message") if isinstance(first, dict) else first
            raise DagsterUnavailable(f"Dagster GraphQL error: {str(message)[:300]}")
        data: dict[str, Any] = payload["data"]
        return data

    def _field(self, document: str, variables: dict[str, Any] | None, name: str) -> dict[str, Any]:
        """One root field of a query's answer (a GraphQL server that lacks it is not Dagster's)."""
        value = self.query(document, variables).get(name)
        if not isinstance(value, dict):
            raise DagsterUnavailable(
                f"Dagster webserver at {self.base_url} answered without {name}: not the Dagster "
                "webserver, or another version of it"
            )
        return value

    def run_url(self, run_id: str) -> str:
        return f"{self.base_url}/runs/{run_id}"

    def backfill_url(self, backfill_id: str) -> str:
        return f"{self.base_url}/runs/b/{backfill_id}"

    @staticmethod
    def _ok(result: dict[str, Any], success: str) -> dict[str, Any]:
        if result.get("__typename") != success:
            detail = result.get("message") or result.get("__typename")
            raise DagsterUnavailable(f"Dagster refused the request: {detail}")
        return result

    def repository(self, job_name: str) -> Repository:
        """The repository holding ``job_name`` (cached; one code location is the normal case)."""
        if self._repository is None:
            data = self._field(
                "{ repositoriesOrError { __typename ... on RepositoryConnection {"
                " nodes { name location { name } jobs { name } } }"
                " ... on PythonError { message } } }", None, "repositoriesOrError",
            )
            for node in data.get("nodes") or []:
                if any(j["name"] == job_name for j in node["jobs"]):
                    self._repository = Repository(node["location"]["name"], node["name"])
                    break
            else:
                raise DagsterUnavailable(f"no loaded code location has the job {job_name!r}")
        return self._repository

    # --- starting work ------------------------------------------------------------------------

    def launch_run(
        self, job_name: str, *, run_config: dict[str, Any], tags: dict[str, str]
    ) -> str:
        """Launch one run of a job; returns its run id."""
        params = {
            "selector": {**self.repository(job_name).selector(), "jobName": job_name},
            "runConfigData": run_config,
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
        }
        result = self._field(
            "mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename"
            " ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }"
            " ... on InvalidSubsetError { message } ... on RunConfigValidationInvalid {"
            " errors { message } } ... on UnauthorizedError { message } } }",
            {"p": params}, "launchRun")
        return str(self._ok(result, "LaunchRunSuccess")["run"]["runId"])

    def launch_backfill(
        self,
        *,
        asset_keys: Sequence[str],
        partition_names: Sequence[str],
        run_config: dict[str, Any],
        tags: dict[str, str],
        title: str,
    ) -> str:
        """An asset backfill of the given partitions; returns the backfill id."""
        params = {
            "assetSelection": [{"path": [key]} for key in asset_keys],
            "partitionNames": list(partition_names),
            "runConfigData": run_config,
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
            "title": title,
        }
        result = self._field(
            "mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {"
            " __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message }"
            " ... on PartitionSetNotFoundError { message } ... on InvalidStepError { invalidStepKey }"
            " ... on InvalidOutputError { invalidOutputName } ... on UnauthorizedError { message }"
            " } }",
            {"p": params}, "launchPartitionBackfill")
        return str(self._ok(result, "LaunchBackfillSuccess")["backfillId"])

    def add_dynamic_partition(self, job_name: str, partitions_def: str, key: str) -> bool:
        """Add ``key`` to a dynamic partitions definition; False when it was there already."""
        result = self._field(
            "mutation($r: RepositorySelector!, $d: String!, $k: String!) {"
            " addDynamicPartition(repositorySelector: $r, partitionsDefName: $d, partitionKey: $k) {"
            " __typename ... on PythonError { message } ... on UnauthorizedError { message } } }",
            {"r": self.repository(job_name).selector(), "d": partitions_def, "k": key}, "addDynamicPartition")
        if result["__typename"] == "DuplicateDynamicPartitionError":
            return False
        self._ok(result, "AddDynamicPartitionSuccess")
        return True

    # --- watching work ------------------------------------------------------------------------

    def run(self, run_id: str) -> RunInfo | None:
        node = self._field(
            f"query($id: ID!) {{ runOrError(runId: $id) {{ __typename ... on Run {{ {_RUN_FIELDS} }} }} }}",
            {"id": run_id}, "runOrError")
        return run_info(node) if node["__typename"] == "Run" else None

    def active_runs(self, tags: dict[str, str]) -> list[RunInfo]:
        """Queued or running runs carrying all of ``tags`` (backfill runs included)."""
        flt = {
            "statuses": list(ACTIVE_RUN_STATUSES),
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
        }
        data = self._field(
            f"query($f: RunsFilter) {{ runsOrError(filter: $f, limit: 100) {{ __typename"
            f" ... on Runs {{ results {{ {_RUN_FIELDS} }} }} }} }}",
            {"f": flt}, "runsOrError")
        return [run_info(node) for node in data.get("results") or []]

    def backfill(self, backfill_id: str, *, run_limit: int = 1000) -> BackfillInfo | None:
        node = self._field(
            "query($id: String!, $n: Int) { partitionBackfillOrError(backfillId: $id) { __typename"
            f" ... on PartitionBackfill {{ id status tags {{ key value }} runs(limit: $n) {{ {_RUN_FIELDS} }} }} }} }}",
            {"id": backfill_id, "n": run_limit}, "partitionBackfillOrError")
        if node["__typename"] != "PartitionBackfill":
            return None
        return BackfillInfo(
            backfill_id=node["id"],
            status=node["status"],
            tags={t["key"]: t["value"] for t in node.get("tags") or []},
            runs=[run_info(r) for r in node["runs"]],
        )

    def active_backfills(self) -> list[BackfillInfo]:
        """Backfills still submitting runs (status REQUESTED)."""
        data = self._field(
            "{ partitionBackfillsOrError(status: REQUESTED, limit: 100) { __typename"
            " ... on PartitionBackfills { results { id status tags { key value } } } } }",
            None, "partitionBackfillsOrError",
        )
        return [
            BackfillInfo(n["id"], n["status"], {t["key"]: t["value"] for t in n["tags"]}, [])
            for n in data.get("results") or []
        ]
