"""The read API's query string, read from the raw bytes the server passes, and kept per distinct string."""

from __future__ import annotations

import pytest

from app.errors import BadRequest, ValidationFailure
from app.reads import query as read_query
from app.reads.query import MAX_CACHED_QUERY_BYTES, parse_query_string

MESSAGES = {"missing_project": "no project", "missing_environment": "no environment"}


def test_percent_decoding_blank_values_and_the_last_repeated_name_win():
    parsed = parse_query_string(
        b"workspaceId=p1&workspaceId=p2&environment=prod&secretPath=%2Fa%2Fb%2F&version=&viewSecretValue=false",
        **MESSAGES,
    )
    assert (parsed.project_id, parsed.environment, parsed.secret_path) == ("p2", "prod", "/a/b")
    assert parsed.version is None and parsed.view_value is False


def test_a_repeated_query_string_is_parsed_once():
    raw = b"workspaceId=cached-once&environment=prod"
    parse_query_string(raw, **MESSAGES)
    hits = read_query._parse_raw_cached.cache_info().hits
    assert parse_query_string(raw, **MESSAGES) is parse_query_string(raw, **MESSAGES)
    assert read_query._parse_raw_cached.cache_info().hits == hits + 2


def test_a_refused_query_is_refused_every_time():
    for _ in range(2):
        with pytest.raises(ValidationFailure):
            parse_query_string(b"workspaceId=p&environment=prod&viewSecretValue=yes", **MESSAGES)
        with pytest.raises(BadRequest, match="no project"):
            parse_query_string(b"environment=prod", **MESSAGES)


def test_the_same_query_under_other_messages_keeps_its_own_messages():
    with pytest.raises(BadRequest, match="no environment"):
        parse_query_string(b"workspaceId=p", **MESSAGES)
    with pytest.raises(BadRequest, match="other"):
        parse_query_string(b"workspaceId=p", missing_project="x", missing_environment="other")


def test_a_long_query_is_read_but_not_kept():
    raw = b"workspaceId=p&environment=prod&padding=" + b"x" * MAX_CACHED_QUERY_BYTES
    size = read_query._parse_raw_cached.cache_info().currsize
    assert parse_query_string(raw, **MESSAGES).project_id == "p"
    assert read_query._parse_raw_cached.cache_info().currsize == size


# --- leniency the clients need (clients §2.3, clients §3.1, clients §5.1) ---------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("false", False), ("1", True), ("0", False), ("TRUE", True), ("False", False), ("", False)],
)
def test_booleans_are_true_false_1_or_0_in_any_case_and_empty_is_absent(raw, expected):
    parsed = parse_query_string(f"workspaceId=p&environment=prod&recursive={raw}".encode(), **MESSAGES)
    assert parsed.recursive is expected


@pytest.mark.parametrize(
    "name", ["recursive", "viewSecretValue", "include_imports", "includeImports", "includePersonalOverrides"]
)
def test_a_bad_boolean_of_a_known_parameter_is_422_naming_it(name):
    with pytest.raises(ValidationFailure) as refused:
        parse_query_string(f"workspaceId=p&environment=prod&{name}=yes".encode(), **MESSAGES)
    assert refused.value.message[0]["path"] == [name]


def test_both_spellings_of_the_imports_flag_and_unknown_parameters_read_the_same():
    plain = parse_query_string(b"workspaceId=p&environment=prod", **MESSAGES)
    for extra in (b"&include_imports=true", b"&includeImports=false", b"&metadataFilter=key%3Da", b"&whatever=1"):
        assert parse_query_string(b"workspaceId=p&environment=prod" + extra, **MESSAGES) == plain


def test_an_id_wins_over_a_slug_and_either_slug_spelling_is_read():
    assert parse_query_string(b"workspaceId=p&workspaceSlug=s&environment=e", **MESSAGES).project_slug is None
    assert parse_query_string(b"projectId=p&projectSlug=s&environment=e", **MESSAGES).project_id == "p"
    for raw in (b"workspaceId=&workspaceSlug=s&environment=e", b"projectId=&projectSlug=s&environment=e"):
        parsed = parse_query_string(raw, **MESSAGES)
        assert (parsed.project_id, parsed.project_slug) == (None, "s")
    with pytest.raises(BadRequest, match="no project"):
        parse_query_string(b"workspaceId=&workspaceSlug=&projectId=&projectSlug=&environment=e", **MESSAGES)


def test_tag_slugs_are_split_and_trimmed_and_empty_means_none():
    parsed = parse_query_string(b"workspaceId=p&environment=e&tagSlugs=%20a%20,,b", **MESSAGES)
    assert parsed.tag_slugs == ("a", "b")
    assert parse_query_string(b"workspaceId=p&environment=e&tagSlugs=", **MESSAGES).tag_slugs == ()
