"""Keep configured secrets out of every text that leaves the process.

Every secret the configuration resolves (``{env: ...}`` / ``{file: ...}``) is
registered here. :func:`redact` replaces any of its common encodings (raw, URL-encoded,
base64, and base64 of ``user:secret`` as HTTP Basic sends it) with ``[REDACTED]``. One
:class:`RedactingFilter` on the log handlers and the :class:`~collectors.base.CollectorError`
constructor apply it, so a server that echoes the request into its error body cannot get
a token into a log line, an error message or ``check-config`` output.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
from urllib.parse import quote, quote_plus

MARK = "[REDACTED]"
MIN_SECRET_LENGTH = 4  # shorter values would redact ordinary words

_lock = threading.Lock()
_secrets: set[str] = set()
_patterns: list[str] = []
# Base64 runs long enough to hold "user:secret"; decoded and checked one by one.
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{8,}={0,2}")


def register_secret(value: str) -> None:
    """Remember a secret so that :func:`redact` hides it from now on."""
    if len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        variants = {value, quote(value, safe=""), quote_plus(value),
                    base64.b64encode(value.encode()).decode().rstrip("=")}
        _patterns[:] = sorted(set(_patterns) | variants, key=len, reverse=True)


def _decoded_holds_secret(run: str) -> bool:
    padded = run + "=" * (-len(run) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            text = decode(padded).decode("utf-8", "ignore")
        except (binascii.Error, ValueError):
            continue
        if any(secret in text for secret in _secrets):
            return True
    return False


def redact(text: str) -> str:
    """``text`` with every registered secret (in any encoding above) replaced."""
    if not _secrets or not text:
        return text
    with _lock:
        patterns = list(_patterns)
    # Whole base64 runs first, so "user:secret" goes as one piece, user included.
    text = _BASE64_RUN.sub(lambda m: MARK if _decoded_holds_secret(m.group()) else m.group(),
                           text)
    for pattern in patterns:
        if pattern in text:
            text = text.replace(pattern, MARK)
    return text


class RedactingFilter(logging.Filter):
    """A handler filter that redacts the formatted message and any traceback text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _secrets:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Add the filter to every handler of ``logger`` (the root logger by default)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
