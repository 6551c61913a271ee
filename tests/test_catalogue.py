"""The provider catalogue: one entry per provider, the only reader of provider settings, and the only
module outside a provider's own wire client (and the parameter models) that names a provider."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from app import catalogue
from app.config import ConfigError, Settings

APP = Path(__file__).resolve().parent.parent / "app"


def _module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _spellings(label: str) -> str:
    """`open-router` or `OpenRouter` -> a case-insensitive pattern for openrouter, open-router, open_router."""
    words = [w for w in re.split(r"[^0-9a-z]+", label.lower()) if w]
    return "[-_ ]?".join(map(re.escape, words))


# Every way an entry is named: its app's slug and display name, its rotation type's slug and display name.
NAMES = re.compile(
    "|".join(
        sorted(
            {
                _spellings(label)
                for entry in catalogue.ENTRIES
                for label in (entry.app.slug, entry.app.name, entry.rotation.slug, entry.rotation.name)
            }
        )
    ),
    re.IGNORECASE,
)
# Where naming a provider is the job: the catalogue, the parameter models it lists, and each entry's wire modules.
MAY_NAME = {"app.catalogue", "app.catalogue.parameters"} | {m for e in catalogue.ENTRIES for m in e.wire_modules()}


def test_no_other_module_names_a_provider():
    """Comments and docstrings count: a provider named in passing is a place the next provider must edit."""
    offences = {
        _module_name(path): sorted({m.group(0) for m in NAMES.finditer(path.read_text())})
        for path in sorted(APP.rglob("*.py"))
        if _module_name(path) not in MAY_NAME and NAMES.search(path.read_text())
    }
    assert not offences, f"only {sorted(MAY_NAME)} may name a provider: {offences}"


def test_the_scan_would_see_a_provider_named_in_passing():
    for text in ('"open-router"', "OPENROUTER_BASE_URL", "an ARouter key", "# arouter-api-key", "open_router"):
        assert NAMES.search(text), text
    for text in ("APIRouter", "a router", "the provider's wire client"):
        assert not NAMES.search(text), text


def test_providers_import_nothing_from_app_but_providers():
    offences = {}
    for path in sorted((APP / "providers").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else []
            bad = [n for n in names if (n == "app" or n.startswith("app.")) and not n.startswith("app.providers")]
            if bad:
                offences.setdefault(path.name, []).extend(bad)
    assert not offences, f"providers get settings and clients from app.catalogue: {offences}"


def test_each_entry_is_whole_and_named_once():
    apps = [e.app.slug for e in catalogue.ENTRIES]
    types = [e.rotation.slug for e in catalogue.ENTRIES]
    settings = [s.name for e in catalogue.ENTRIES for s in e.settings()]
    assert len(set(apps)) == len(apps) and len(set(types)) == len(types) and len(set(settings)) == len(settings)
    for entry in catalogue.ENTRIES:
        assert entry.rotation.app == entry.app.slug and entry.rotation.app_name == entry.app.name
        assert set(entry.app.methods) <= set(catalogue.METHOD_NAMES)
        assert "name" in entry.rotation.parameters_model.model_fields  # the key-name prefix every type takes
        assert catalogue.app(entry.app.slug) == entry.app
        assert catalogue.rotation_type(entry.rotation.slug) == entry.rotation
    assert not set(settings) & set(Settings.model_fields), "a provider setting is declared by its entry, not Settings"


def test_unknown_app_has_no_wire_and_keeps_its_slug_as_name():
    assert catalogue.app("no-such-app") is None and catalogue.wire("no-such-app") is None
    assert catalogue.app_name("no-such-app") == "no-such-app"


# --- settings ---------------------------------------------------------------------------------------


def test_base_url_defaults_when_unset(monkeypatch):
    for entry in catalogue.ENTRIES:
        monkeypatch.delenv(entry.base_url.env_var, raising=False)
    settings = Settings()
    for entry in catalogue.ENTRIES:
        wire = catalogue.wire(entry.app.slug, settings)
        assert wire is not None and wire.base_url == entry.base_url.default.rstrip("/")


def test_base_url_comes_from_its_environment_variable(monkeypatch):
    monkeypatch.setenv("KEYTURN_OPENROUTER_BASE_URL", "http://127.0.0.1:1/api/v1/")
    monkeypatch.setenv("KEYTURN_AROUTER_BASE_URL", "http://127.0.0.1:2")
    settings = Settings()
    assert catalogue.wire("open-router", settings).base_url == "http://127.0.0.1:1/api/v1"
    assert catalogue.wire("arouter", settings).base_url == "http://127.0.0.1:2"


def test_keyword_arguments_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("KEYTURN_OPENROUTER_BASE_URL", "http://from-env")
    settings = Settings(openrouter_base_url="http://from-argument")
    assert catalogue.wire("open-router", settings).base_url == "http://from-argument"


def test_wire_variant_follows_its_setting(monkeypatch):
    from app.providers import arouter

    monkeypatch.delenv("KEYTURN_AROUTER_API_STYLE", raising=False)
    assert catalogue.wire("arouter", Settings()).provider is arouter.provider
    monkeypatch.setenv("KEYTURN_AROUTER_API_STYLE", "openrouter-like")
    assert catalogue.wire("arouter", Settings()).provider is arouter.openrouter_like


def test_unknown_wire_variant_is_refused_at_start_up(monkeypatch):
    monkeypatch.setenv("KEYTURN_AROUTER_API_STYLE", "sideways")
    with pytest.raises(ConfigError, match="KEYTURN_AROUTER_API_STYLE must be one of seed, openrouter-like"):
        catalogue.check_settings(Settings())


def test_providers_share_one_http_client():
    settings = Settings(http_timeout_seconds=3.0)
    clients = {id(catalogue.wire(e.app.slug, settings).client) for e in catalogue.ENTRIES}
    assert len(clients) == 1
