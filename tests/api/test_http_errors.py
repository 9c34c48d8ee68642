"""The sidecar's HTTP edges in-process: every error answers the one documented shape
(``{"detail": "<sentence>", "errors": [...]}``), a method a path does not take is 405 with
``Allow`` (never 404 "enterprise status is unknown"), the OpenAPI schema says so, and /docs and
/redoc load their assets from the sidecar itself (no CDN: they work offline)."""
from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from asterisk_pipeline.api.app import create_app
from asterisk_pipeline.api.dagster_client import DagsterClient
from asterisk_pipeline.api.limits import MAX_BODY_BYTES, BodyLimit
from asterisk_pipeline.api.models import Conflict, Error
from asterisk_pipeline.model import Enterprise
from asterisk_pipeline.settings import Settings
from asterisk_pipeline.warehouse.db import make_engine, write_transaction
from asterisk_pipeline.warehouse.registry import upsert_enterprise
from tests.support.api import NOWHERE

TOKEN = "t0k3n-errors"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _app(db_url: str, tmp_path: Path, **overrides: Any) -> TestClient:
    settings = Settings(home=tmp_path, database_url=db_url, dagster_url=NOWHERE, api_token=TOKEN, **overrides)
    return TestClient(create_app(settings, DagsterClient(NOWHERE, timeout_s=2)), raise_server_exceptions=False)


@pytest.fixture
def api(sqlite_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """The sidecar on a SQLite warehouse with 0327 active; Dagster down; a token set."""
    engine: Engine = make_engine(sqlite_url)
    with write_transaction(engine) as conn:
        upsert_enterprise(conn, Enterprise("0327", "VOS", "vos.lan", "s3cret", None, None))
    engine.dispose()
    with _app(sqlite_url, tmp_path) as client:
        yield client


def assert_error_shape(body: Any, *, field_errors: bool = False) -> Error:
    """The documented shape, and nothing else: a sentence in detail, a list in errors."""
    assert isinstance(body, dict) and set(body) == {"detail", "errors"}, body
    assert isinstance(body["detail"], str) and body["detail"], body
    error = Error.model_validate(body)
    if field_errors:
        assert error.errors and all(e.loc and e.msg and e.type for e in error.errors), body
    else:
        assert error.errors == [], body
    return error


@pytest.mark.parametrize(("method", "path", "kwargs", "code", "words"), [
    ("post", "/sync/live/0327", {}, 401, "missing or wrong bearer token"),
    ("post", "/sync/live/0999", {"headers": AUTH}, 404, "enterprise 0999 is unknown or not active"),
    ("post", "/sync/0999", {"headers": AUTH, "json": {}}, 404, "enterprise 0999 is unknown or not active"),
    ("get", "/no/such/endpoint", {}, 404, "Not Found: no endpoint at /no/such/endpoint"),
    ("post", "/sync/status", {"headers": AUTH}, 405, "Method Not Allowed: POST /sync/status accepts GET"),
    ("get", "/sync/live/0327", {}, 405, "Method Not Allowed: GET /sync/live/0327 accepts POST"),
    ("post", "/sync/0327", {"headers": AUTH, "content": b"[" + b"1," * 40_000 + b"1]"}, 413, str(MAX_BODY_BYTES)),
    ("post", "/sync/live/0327", {"headers": AUTH}, 503, "unreachable"),
    ("post", "/sync/0327", {"headers": AUTH, "json": {}}, 503, "unreachable"),
])
def test_every_error_has_the_one_shape(api: TestClient, method: str, path: str, kwargs: dict[str, Any],
                                       code: int, words: str) -> None:
    response = api.request(method.upper(), path, **kwargs)
    assert response.status_code == code, response.text
    assert response.headers["content-type"] == "application/json"
    assert words in assert_error_shape(response.json()).detail


@pytest.mark.parametrize(("path", "kwargs", "loc", "words"), [
    ("/sync/live/03;27", {}, ["path", "enterprise"], "String should match pattern"),
    ("/sync/live/0327?wait=maybe", {}, ["query", "wait"], "valid boolean"),
    ("/sync/live/0327?wait=true&timeout=-1", {}, ["query", "timeout"], "greater than 0"),
    ("/sync/0327", {"json": []}, ["body"], "object"),
    ("/sync/0327", {"json": {"force_all": "yes"}}, ["body", "force_all"], "valid boolean"),
    ("/sync/0327", {"json": {"date_from": "2025/06/22"}}, ["body", "date_from"], "must be a date string YYYY-MM-DD"),
    ("/sync/0327", {"json": {"date_from": "2025-07-03", "date_to": "2025-06-22"}}, ["body"], "after date_to"),
    ("/sync/0327", {"json": {"date_to": "2999-01-01"}}, ["body", "date_to"], "in the future"),
    ("/sync/0327", {"json": {"date_from": "2020-01-01"}}, ["body", "date_from"], "before ASTERISK_HISTORY_START"),
    ("/sync/0327", {"content": b'{"force_all": tru', "headers": {"Content-Type": "application/json"}},
     ["body", 14], "JSON decode error"),
])
def test_invalid_input_is_422_with_a_sentence_and_each_field_error(
        api: TestClient, path: str, kwargs: dict[str, Any], loc: list[Any], words: str) -> None:
    headers = {**AUTH, **kwargs.pop("headers", {})}
    response = api.post(path, headers=headers, **kwargs)
    assert response.status_code == 422, response.text
    error = assert_error_shape(response.json(), field_errors=True)
    assert error.detail.startswith("invalid input: ") and words in error.detail
    assert loc in [e.loc for e in error.errors] and any(words in e.msg for e in error.errors)


def test_a_422_quotes_only_an_excerpt_of_a_big_input(api: TestClient) -> None:
    response = api.post("/sync/0327", headers=AUTH, json=["x" * 100] * 600)
    assert response.status_code == 422 and len(response.content) < 1000, len(response.content)
    assert "chars)" in assert_error_shape(response.json(), field_errors=True).errors[0].input


def test_a_database_that_does_not_answer_is_503_in_the_same_shape(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path}/no-such-dir/central.db"
    with _app(missing, tmp_path) as api:
        for path in ("/", "/enterprises", "/sync/status", "/sync/live/status", "/sync/live/today", "/metrics",
                     "/fleet/health", "/fleet/health/0327"):
            response = api.get(path)
            assert response.status_code == 503, (path, response.text)
            assert assert_error_shape(response.json()).detail == "central database unavailable"
        posted = api.post("/sync/live/0327", headers=AUTH)
        assert posted.status_code == 503 and posted.json()["detail"] == "central database unavailable"


def test_an_unexpected_exception_is_500_in_the_same_shape_without_its_text(api: TestClient) -> None:
    def broken() -> None:
        raise RuntimeError("password=hunter2 leaked by a bug")
    api.app.add_api_route("/broken", broken)  # type: ignore[attr-defined]
    response = api.get("/broken")
    assert response.status_code == 500
    assert assert_error_shape(response.json()).detail.startswith("internal error (RuntimeError)")
    assert "hunter2" not in response.text


def test_the_409_shape_is_the_error_shape_plus_the_running_sync() -> None:
    schema = Conflict.model_json_schema()
    assert {"detail", "errors", "kind", "id", "dagster_url"} <= set(schema["properties"])
    assert Error.model_validate(Conflict(detail="busy", kind="run", id="r1", dagster_url="u").model_dump())


def _refused(middleware: BodyLimit, headers: list[tuple[bytes, bytes]], receive: Any) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/sync/0327", "headers": headers}
    asyncio.run(middleware(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_the_body_limits_refuse_in_the_same_shape_before_the_app_runs() -> None:
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])

    async def never(*_: Any) -> Any:
        await asyncio.Event().wait()

    import json
    status, body = _refused(BodyLimit(app), [(b"content-length", b"lots")], never)
    assert status == 400 and "not a number" in assert_error_shape(json.loads(body)).detail
    status, body = _refused(BodyLimit(app, timeout_s=0.05), [(b"content-length", b"10")], never)
    assert status == 408 and "not received within 0.05 s" in assert_error_shape(json.loads(body)).detail
    status, body = _refused(BodyLimit(app), [(b"content-length", str(MAX_BODY_BYTES + 1).encode())], never)
    assert status == 413 and assert_error_shape(json.loads(body))
    assert reached == []


def _operations(api: TestClient) -> dict[str, set[str]]:
    """Every documented path (``{enterprise}`` as 0327) and its methods."""
    paths = api.get("/openapi.json").json()["paths"]
    return {path.replace("{enterprise}", "0327"): {m.upper() for m in ops} for path, ops in paths.items()}


def test_every_method_a_path_does_not_take_is_405_with_allow(api: TestClient) -> None:
    operations = _operations(api)
    assert len(operations) == 17  # 11, /fleet/health, /fleet/health/{enterprise}, /missed, /calls, /calls/{enterprise}/{unique_id}, /stats
    for path, allowed in operations.items():
        for method in set(METHODS) - allowed:
            response = api.request(method, path, headers=AUTH)
            assert response.status_code == 405, (method, path, response.status_code, response.text)
            assert set(response.headers["allow"].split(", ")) == allowed, (method, path)
            assert_error_shape(response.json())


@pytest.mark.parametrize("path", ["/sync/status", "/sync/live/status", "/sync/live/today"])
def test_post_on_a_get_only_path_is_405_not_an_unknown_enterprise(api: TestClient, path: str) -> None:
    for headers in ({}, AUTH):
        response = api.post(path, headers=headers)
        assert response.status_code == 405 and response.headers["allow"] == "GET", response.text
        assert "unknown" not in response.text


def test_fixed_paths_beside_an_enterprise_are_still_the_fixed_endpoints(api: TestClient) -> None:
    """``all`` is the fleet, not an enterprise called all; a number that merely starts like a
    fixed name is an enterprise."""
    fleet = api.post("/sync/live/all", headers=AUTH)  # reached the launch: Dagster is down here
    assert fleet.status_code == 503 and "unreachable" in fleet.json()["detail"], fleet.text
    for path in ("/sync/live/statuses", "/sync/live/all2", "/sync/status-1", "/sync/live"):
        response = api.post(path, headers=AUTH, json={})
        assert response.status_code == 404 and "is unknown or not active" in response.json()["detail"], path


def test_the_openapi_schema_documents_the_one_error_shape(api: TestClient) -> None:
    schema = api.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    assert "HTTPValidationError" not in components
    assert components["Error"]["properties"]["detail"]["type"] == "string"
    assert components["Error"]["properties"]["errors"]["type"] == "array"
    refs = {"#/components/schemas/Error", "#/components/schemas/Conflict", "#/components/schemas/Health"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if code.startswith(("4", "5")):
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref in refs, (method, path, code, ref)
            if method == "post":
                assert {"401", "404", "405", "409", "413", "422", "503"} <= set(operation["responses"])


ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']|url: ?'([^']+)'|<redoc spec-url=["']([^"']+)""")


@pytest.mark.parametrize(("page", "script"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")])
def test_docs_load_every_asset_from_the_sidecar_itself(api: TestClient, page: str, script: str) -> None:
    html = api.get(page)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    urls = {next(u for u in match if u) for match in ASSET.findall(html.text)}
    assert f"/docs/assets/{script}" in urls and "/openapi.json" in urls, urls
    assert not re.search(r"https?://|//[a-z]", html.text.replace("http-equiv", "")), html.text
    for url in urls:
        asset = api.get(url)
        assert asset.status_code == 200, url
        if url.endswith(".js"):
            assert asset.headers["content-type"].startswith(("text/javascript", "application/javascript"))
            assert len(asset.content) > 500_000, (url, len(asset.content))  # the real bundle, not a stub
        elif url.endswith(".css"):
            assert asset.headers["content-type"].startswith("text/css") and len(asset.content) > 50_000
    assert api.get("/docs/oauth2-redirect").status_code == 200
    assert api.get("/docs/assets/nothing.js").status_code == 404
