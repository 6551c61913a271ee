"""The official Python SDK (`infisicalsdk`) against a real keyturn server on loopback: universal-auth login,
read by name, list, a rotation seen on the next uncached read, and the SDK's errors for 401 and 403."""

from __future__ import annotations

import pytest
from infisical_sdk import InfisicalSDKClient
from infisical_sdk.infisical_requests import APIError

from tests.sdk.live import Service, read_until


def _sdk(server_url: str, service: Service) -> InfisicalSDKClient:
    sdk = InfisicalSDKClient(host=server_url, cache_ttl=None)
    sdk.auth.universal_auth.login(client_id=service.client_id, client_secret=service.client_secret)
    return sdk


def test_sdk_reads_lists_and_sees_a_rotation_with_a_higher_version(server_url, service, rotate):
    sdk = _sdk(server_url, service)

    def read():
        return sdk.secrets.get_secret_by_name(
            secret_name=service.secret_name,
            project_id=service.project_id,
            environment_slug=service.environment,
            secret_path=service.secret_path,
        )

    first = read()
    assert first.secretKey == service.secret_name and first.secretValue and first.version == 1
    assert first.workspace == service.project_id and first.environment == service.environment

    listed = sdk.secrets.list_secrets(
        project_id=service.project_id, environment_slug=service.environment, secret_path=service.secret_path
    )
    assert [(s.secretKey, s.secretValue) for s in listed.secrets] == [(service.secret_name, first.secretValue)]

    rotate()
    second = read_until(read, lambda secret: secret.version > first.version)
    assert second.version > first.version
    assert second.secretValue != first.secretValue
    assert second.updatedAt >= first.updatedAt


def test_sdk_wrong_client_secret_is_a_401_api_error(server_url, service):
    sdk = InfisicalSDKClient(host=server_url, cache_ttl=None)
    with pytest.raises(APIError) as raised:
        sdk.auth.universal_auth.login(client_id=service.client_id, client_secret="not-the-secret")
    assert raised.value.status_code == 401


def test_sdk_viewer_scoped_to_prod_gets_403_on_dev(server_url, service):
    sdk = _sdk(server_url, service)
    with pytest.raises(APIError) as raised:
        sdk.secrets.get_secret_by_name(
            secret_name=service.secret_name,
            project_id=service.project_id,
            environment_slug="dev",
            secret_path=service.secret_path,
        )
    assert raised.value.status_code == 403
