"""The crash tests kill a worker mid-rotation for every provider, as the engine tests do."""

from tests.rotation.cases import provider_case  # noqa: F401 - a fixture, used by name
