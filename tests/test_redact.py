"""Secret redaction: every common encoding of a configured secret is hidden."""

from __future__ import annotations

import base64
import logging
from urllib.parse import quote

import pytest

from collectors.base import CollectorError, ErrorKind
from collectors.redact import MARK, RedactingFilter, redact, register_secret
from collectors.settings import resolve_secret

SECRET = "canary+Secret/value=42"


@pytest.fixture(autouse=True)
def _registered() -> None:
    register_secret(SECRET)


@pytest.mark.parametrize("encoded", [
    SECRET,
    quote(SECRET, safe=""),
    base64.b64encode(SECRET.encode()).decode(),
    base64.b64encode(f"bot@example.test:{SECRET}".encode()).decode(),
    base64.urlsafe_b64encode(f"svc:{SECRET}".encode()).decode(),
])
def test_every_encoding_is_redacted(encoded: str) -> None:
    text = f"HTTP 400 (rejected Authorization: Basic {encoded}, try again)"
    out = redact(text)
    assert encoded not in out and SECRET not in out
    assert MARK in out and out.startswith("HTTP 400 (rejected Authorization: Basic ")


def test_ordinary_base64_and_text_are_kept() -> None:
    text = "etag W/\"c29tZXRoaW5nIGVsc2U=\" page 2 of 9"
    assert redact(text) == text


def test_collector_errors_are_redacted_at_construction() -> None:
    err = CollectorError(ErrorKind.CLIENT, f"GET /x: HTTP 400 (echo {SECRET})")
    assert SECRET not in str(err) and MARK in str(err)


def test_log_filter_redacts_arguments_and_tracebacks() -> None:
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "token %s", (SECRET,), None)
    try:
        raise RuntimeError(f"boom {SECRET}")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    RedactingFilter().filter(record)
    assert record.getMessage() == f"token {MARK}"
    assert record.exc_text is not None and SECRET not in record.exc_text


def test_secrets_resolved_from_the_environment_are_registered(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDACT_TEST_TOKEN", "env-canary-7f3a9")
    resolve_secret({"env": "REDACT_TEST_TOKEN"}, None)  # type: ignore[arg-type]
    assert redact("x env-canary-7f3a9 y") == f"x {MARK} y"
