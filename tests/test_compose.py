"""docker-compose.yml names services and settings that exist."""

from pathlib import Path

import yaml

from app import catalogue
from app.cli import main as cli_main  # noqa: F401  (the commands below are the CLI's)
from app.config import Settings

ROOT = Path(__file__).resolve().parent.parent
CLI_COMMANDS = {"serve", "worker", "migrate", "openapi"}


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_order():
    services = compose()["services"]
    assert set(services) == {"postgres", "migrate", "api", "worker"}
    assert "healthcheck" in services["postgres"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["api"]["environment"]["KEYTURN_WORKER"] == "off"


def test_commands_exist_in_the_cli():
    for name in ("migrate", "api", "worker"):
        command = compose()["services"][name]["command"]
        assert command[0] == "keyturn" and command[1] in CLI_COMMANDS


def test_every_keyturn_variable_is_a_setting():
    fields = {f"KEYTURN_{name.upper()}" for name in Settings.model_fields}
    # Provider settings are declared by their catalogue entries, not by Settings.
    fields |= {s.env_var for e in catalogue.ENTRIES for s in e.settings()}
    for name, service in compose()["services"].items():
        for variable in service.get("environment", {}):
            if variable.startswith("KEYTURN_"):
                assert variable in fields, f"{name} sets unknown {variable}"
    assert (ROOT / "Dockerfile").exists()


def test_the_metrics_token_is_passed_through_and_never_set_to_an_empty_value():
    """`/metrics` on 0.0.0.0 needs KEYTURN_METRICS_TOKEN. A null value is Compose's pass-through (unset when the
    environment has none); an empty string would stop keyturn at start (it must be 32+ random characters)."""
    for name in ("api", "worker"):
        environment = compose()["services"][name]["environment"]
        assert "KEYTURN_METRICS_TOKEN" in environment and environment["KEYTURN_METRICS_TOKEN"] is None
