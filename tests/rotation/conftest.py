"""The engine tests run once per provider (and, through `db_url`, once per database)."""

from tests.rotation.cases import provider_case  # noqa: F401 - a fixture, used by name
