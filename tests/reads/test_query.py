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
