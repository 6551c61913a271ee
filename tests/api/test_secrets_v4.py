"""The v4 secrets API (clients §3–§4): the v3 read path answering v4's routes, with v4's messages, and the
list semantics the CLI and the operator rely on (recursive, empty paths, tags, order)."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from app import db
from app.models import AuditLog
from app.reads import audit as read_audit
from tests.factories import as_identity, put_secret

# clients §3.2: every field of a v4 item
V4_FIELDS = {
    "id",
    "_id",
    "workspace",
    "environment",
    "version",
    "type",
    "secretKey",
    "secretValue",
    "secretValueHidden",
    "secretComment",
    "secretPath",
    "skipMultilineEncoding",
    "secretReminderNote",
    "secretReminderRepeatDays",
    "isRotatedSecret",
    "rotationId",
    "createdAt",
    "updatedAt",
    "tags",
    "secretMetadata",
}
CLI_FLAGS = "expandSecretReferences=true&includeImports=true&includePersonalOverrides=true"


def _list(project_id: str, path: str = "/", recursive: str = "false", extra: str = "") -> str:
    return (
        f"/api/v4/secrets?environment=prod&{CLI_FLAGS}&projectId={project_id}"
        f"&recursive={recursive}&secretPath={path}{extra}"
    )


def _get(project_id: str, name: str = "OPENROUTER_API_KEY", extra: str = "") -> str:
    return (
        f"/api/v4/secrets/{name}?environment=prod&expandSecretReferences=true&includeImports=true"
        f"&projectId={project_id}&secretPath=%2F&type=shared{extra}"
    )


@pytest.fixture
def secret_id(project) -> str:
    return put_secret(project["id"], "OPENROUTER_API_KEY", "sk-or-v1-first")


def test_v4_list_and_get_send_every_field_as_json_with_an_etag(client, project, secret_id):
    listed = client.get(_list(project["id"]))
    assert listed.status_code == 200, listed.text
    assert listed.headers["content-type"] == "application/json" and listed.headers["etag"].startswith('"')
    body = listed.json()
    assert body["imports"] == [] and len(body["secrets"]) == 1
    (item,) = body["secrets"]
    assert set(item) == V4_FIELDS
    assert item["id"] == item["_id"] == secret_id and item["workspace"] == project["id"]
    assert (item["secretKey"], item["secretValue"], item["version"], item["secretPath"]) == (
        "OPENROUTER_API_KEY",
        "sk-or-v1-first",
        1,
        "/",
    )
    assert (item["tags"], item["secretMetadata"], item["isRotatedSecret"], item["rotationId"]) == ([], [], False, None)
    one = client.get(_get(project["id"]))
    assert one.status_code == 200 and one.headers["content-type"] == "application/json"
    assert one.json() == {"secret": item} and one.headers["etag"].startswith('"')


def test_v4_answers_the_same_bytes_and_etags_as_v3(client, project, secret_id):
    pid = project["id"]
    pairs = [
        (_list(pid), f"/api/v3/secrets/raw?workspaceId={pid}&environment=prod&secretPath=%2F"),
        (_get(pid), f"/api/v3/secrets/raw/OPENROUTER_API_KEY?workspaceId={pid}&environment=prod"),
    ]
    for v4, v3 in pairs:
        new, old = client.get(v4), client.get(v3)
        assert (new.status_code, new.content, new.headers["etag"]) == (200, old.content, old.headers["etag"])


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("/api/v4/secrets?environment=prod", 400, "Missing project id or environment"),
        ("/api/v4/secrets?projectId={pid}&environment=", 400, "Missing project id or environment"),
        ("/api/v4/secrets/K?environment=prod&projectId=", 400, "You must provide  workspaceId"),
        ("/api/v4/secrets/K?projectId={pid}", 400, "Missing environment"),
        ("/api/v4/secrets/NOPE?projectId={pid}&environment=prod", 404, "Secret with name 'NOPE' not found"),
        (
            "/api/v4/secrets/OPENROUTER_API_KEY?projectId={pid}&environment=prod&type=personal",
            404,
            "Secret with name 'OPENROUTER_API_KEY' not found",
        ),
        ("/api/v4/secrets?projectId=nope&environment=prod", 404, "Project with ID 'nope' not found"),
    ],
)
def test_v4_errors_are_infisicals(client, project, secret_id, url, status, message):
    response = client.get(url.format(pid=project["id"]))
    assert (response.status_code, response.json()["message"]) == (status, message)
    assert response.json()["statusCode"] == status and response.json()["reqId"].startswith("req-")


def test_v4_bad_values_are_422_and_tokens_and_roles_are_checked_first(anon_client, client, project, secret_id):
    bad = client.get(_list(project["id"], recursive="maybe"))
    assert bad.status_code == 422 and bad.json()["message"][0]["path"] == ["recursive"]
    assert client.get(_get(project["id"], extra="&version=x")).status_code == 422
    unknown = anon_client.get(_list(project["id"], recursive="maybe"), headers={"Authorization": "Bearer nope"})
    assert unknown.status_code == 401
    scoped = as_identity(client, project, "viewer", scope={"environments": ["dev"], "secretPaths": None})
    denied = anon_client.get(_list(project["id"]), headers=scoped)
    assert denied.status_code == 403 and denied.json()["error"] == "PermissionDenied"


def test_recursive_lists_at_or_below_the_path_sorted_by_path_then_name(client, project):
    pid = project["id"]
    for path, key in [("/b", "B"), ("/a", "Z"), ("/a/x", "K"), ("/", "ROOT"), ("/a", "A"), ("/ab", "NOT_UNDER_A")]:
        put_secret(pid, key, f"v-{key}", path=path)
    everything = client.get(_list(pid, recursive="true")).json()["secrets"]
    assert [(s["secretPath"], s["secretKey"]) for s in everything] == [
        ("/", "ROOT"),
        ("/a", "A"),
        ("/a", "Z"),
        ("/a/x", "K"),
        ("/ab", "NOT_UNDER_A"),
        ("/b", "B"),
    ]
    under_a = client.get(_list(pid, path="/a/", recursive="true")).json()["secrets"]
    assert [(s["secretPath"], s["secretKey"]) for s in under_a] == [("/a", "A"), ("/a", "Z"), ("/a/x", "K")]
    only_a = client.get(_list(pid, path="/a", recursive="false")).json()["secrets"]
    assert [s["secretKey"] for s in only_a] == ["A", "Z"]


def test_a_path_without_secrets_is_200_with_empty_lists(client, project, secret_id):
    for recursive in ("false", "true"):
        response = client.get(_list(project["id"], path="/nothing/here", recursive=recursive))
        assert response.status_code == 200 and response.json() == {"secrets": [], "imports": []}


def test_tag_slugs_filter_to_nothing_since_keyturn_secrets_have_no_tags(client, project, secret_id):
    assert client.get(_list(project["id"], extra="&tagSlugs=prod-keys")).json() == {"secrets": [], "imports": []}
    assert len(client.get(_list(project["id"], extra="&tagSlugs=")).json()["secrets"]) == 1


def test_v4_reads_are_audited_like_v3(client, project, secret_id):
    read_audit.flush_pending()
    client.get(_list(project["id"]))
    client.get(_get(project["id"]))
    read_audit.flush_pending()
    with Session(db.engine()) as session:
        events = {e.event: e for e in session.exec(select(AuditLog).where(AuditLog.project_id == project["id"]))}
    assert events["get-secrets"].metadata_entries["secretCount"] == 1
    assert events["get-secret"].resource_id == secret_id
