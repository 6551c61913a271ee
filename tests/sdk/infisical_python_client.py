"""infisical-python (`infisical_client`, the Rust-based SDK) as a service uses it, driven line by line by
tests/sdk/test_infisical_python.py; the protocol is tests/sdk/live.py's ClientProcess.

It logs in lazily, on its first call, so `ready` only means started: a refused login shows on the first command.
Its cache (300 s by default) is off (`cache_ttl=0`), so every command reaches keyturn. Failures are the SDK's own: a
bare Exception whose text carries keyturn's message.
"""

from __future__ import annotations

import json
import os
import sys

from infisical_client import (
    AuthenticationOptions,
    ClientSettings,
    GetSecretOptions,
    InfisicalClient,
    ListSecretsOptions,
    UniversalAuthMethod,
)

FIELDS = ("secret_key", "secret_value", "version", "type", "workspace", "environment", "secret_path")


def _fields(secret) -> dict:
    return {name: getattr(secret, name) for name in FIELDS}


def main() -> None:
    env = os.environ
    client = InfisicalClient(
        ClientSettings(
            site_url=env["INFISICAL_SITE_URL"],
            cache_ttl=0,
            auth=AuthenticationOptions(
                universal_auth=UniversalAuthMethod(
                    client_id=env["INFISICAL_CLIENT_ID"], client_secret=env["INFISICAL_CLIENT_SECRET"]
                )
            ),
        )
    )
    where = {"environment": env["INFISICAL_ENVIRONMENT"], "project_id": env["INFISICAL_PROJECT_ID"]}
    path = env["INFISICAL_SECRET_PATH"]
    commands = {
        "get": lambda: {
            "secret": _fields(
                client.getSecret(GetSecretOptions(**where, secret_name=env["INFISICAL_SECRET_NAME"], path=path))
            )
        },
        "list": lambda: {"secrets": [_fields(s) for s in client.listSecrets(ListSecretsOptions(**where, path=path))]},
    }
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = commands.get(line.strip())
        try:
            if command is None:
                raise ValueError(f"unknown command {line.strip()!r}")
            answer = {"ok": True, **command()}
        except Exception as error:  # noqa: BLE001 - the SDK raises bare Exceptions; the test reads their text
            answer = {"ok": False, "error": type(error).__name__, "message": str(error)}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
