"""``--web.config.file``: TLS, client certificates, basic auth and response headers.

The file has the format of the Prometheus exporter-toolkit (its docs/web-configuration.md),
so one file can serve node_exporter and this exporter alike::

    tls_server_config:
      cert_file: server.crt            # relative paths are relative to this file
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert
      client_ca_file: ca.crt
    basic_auth_users:
      prometheus: $2y$10$...           # bcrypt hashes (htpasswd -nBC 10 "" | tr -d ':\\n')
    http_server_config:
      headers: {X-Content-Type-Options: nosniff}

Every key is checked: an unknown key or a wrong value fails naming the file, the line and
the key. What Python's ``ssl`` module cannot honour is refused with a message rather than
silently ignored: ``cipher_suites`` and ``curve_preferences`` (Go names),
``RequestClientCert`` / ``RequireAnyClientCert`` (Python verifies every certificate it
requests) and inline ``cert`` / ``key`` (a private key belongs in its own file).
``http2`` is accepted and ignored: this server speaks HTTP/1.1.

The file and the files it names are checked for changes (by ``stat``) on every new
connection and request. A change that validates takes effect at once, so a rotated
certificate is presented to the next connection; a change that fails validation is
logged and the previous settings stay in force, so a half-finished rotation (new key,
old certificate) never breaks handshakes. Turning TLS on or off needs a restart.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError

from collectors.settings import ConfigPath, Duration, StrictModel, parse_duration
from collectors.yamlsafe import YamlDocument, YamlError, read_yaml

log = logging.getLogger("devsecops_exporter.http")

TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
CLIENT_AUTH = {
    "": ssl.CERT_NONE,
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
# Accepted by the toolkit, but they take a certificate without verifying it, which
# Python's ssl module cannot do (and which the toolkit's own docs call insecure).
UNVERIFIED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert")
# The toolkit's list (web/handler.go): only these headers, and for two of them only
# these values, can be configured.
EXTRA_HEADERS: dict[str, tuple[str, ...]] = {
    "Strict-Transport-Security": (),
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": (),
    "Content-Security-Policy": (),
}
_BCRYPT_HASH = re.compile(r"^\$2[abxy]?\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$")
# A bcrypt hash of "fakepassword" (the toolkit's): unknown users cost the same time as
# known ones, so response times do not reveal which user names exist.
_FAKE_HASH = b"$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"
_SAN_KINDS = ("DNS", "IP Address", "email", "URI")


class WebConfigError(Exception):
    """An invalid web configuration; the message names the file, line and key."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        super().__init__(f"{path}: invalid web configuration:\n  " + "\n  ".join(problems))


class TLSServerSettings(StrictModel):
    cert_file: ConfigPath | None = None
    key_file: ConfigPath | None = None
    client_ca_file: ConfigPath | None = None
    client_ca: str | None = Field(default=None, description="inline PEM CA bundle")
    cert: str | None = None
    key: SecretStr | None = None
    client_auth_type: str = "NoClientCert"
    client_allowed_sans: list[str] | None = None
    min_version: str = "TLS12"
    max_version: str = "TLS13"
    cipher_suites: list[str] | None = None
    curve_preferences: list[str] | None = None
    prefer_server_cipher_suites: bool = True


class HTTPServerSettings(StrictModel):
    http2: bool = True
    headers: dict[str, str] = Field(default_factory=dict)


class RateLimitSettings(StrictModel):
    interval: Duration = Field(default=0, validate_default=True)
    burst: int = Field(default=0, ge=0)


class WebConfigModel(StrictModel):
    tls_server_config: TLSServerSettings | None = None
    http_server_config: HTTPServerSettings | None = None
    basic_auth_users: dict[str, SecretStr] | None = None
    rate_limit: RateLimitSettings | None = None


class TokenBucket:
    """``rate_limit``: ``burst`` requests at once, then one per ``interval`` (all clients)."""

    def __init__(self, interval: float, burst: int) -> None:
        self.interval = interval
        self.burst = burst
        self._tokens = float(burst)
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._last) / self.interval)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


@dataclass(frozen=True)
class WebSettings:
    """The validated web configuration, ready for use by the server."""

    path: Path | None = None
    tls: ssl.SSLContext | None = None
    allowed_sans: tuple[str, ...] | None = None
    users: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict)
    limiter: TokenBucket | None = None
    watched: tuple[Path, ...] = ()

    def peer_allowed(self, sock: ssl.SSLSocket) -> bool:
        """``client_allowed_sans``: the verified client certificate names an allowed SAN."""
        if self.allowed_sans is None:
            return True
        cert = sock.getpeercert()
        if not cert:
            return False
        for kind, value in cert.get("subjectAltName", ()):
            if kind in _SAN_KINDS and any(_same_san(value, allowed)
                                          for allowed in self.allowed_sans):
                return True
        return False


def _same_san(value: str, allowed: str) -> bool:
    try:
        return ipaddress.ip_address(value.strip()) == ipaddress.ip_address(allowed)
    except ValueError:
        return value == allowed


PLAIN_HTTP = WebSettings()


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _problem(path: Path, doc: YamlDocument, loc: tuple[Any, ...], message: str) -> str:
    line = doc.line_of(loc)
    where = f"{path}:{line}" if line else str(path)
    return f"{where}: {_format_loc(loc)}: {message}"


def _validation_problems(exc: ValidationError, path: Path, doc: YamlDocument) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = tuple(p for p in error["loc"]
                    if not (isinstance(p, str) and p.startswith("function-")))
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = ("unknown key (check the spelling; the format is the Prometheus "
                       "exporter-toolkit's web configuration)")
        problems.append(_problem(path, doc, loc, message))
    return problems


def _check_tls(tls: TLSServerSettings, path: Path, doc: YamlDocument
               ) -> list[str]:
    base = ("tls_server_config",)
    problems: list[str] = []

    def add(key: str | None, message: str) -> None:
        problems.append(_problem(path, doc, (*base, key) if key else base, message))

    for key in ("cipher_suites", "curve_preferences"):
        if getattr(tls, key):
            add(key, f"{key} is not supported by this exporter (Python's ssl module uses "
                     "OpenSSL's defaults, which exclude weak ciphers and curves); remove it")
    for key, use in (("cert", "cert_file"), ("key", "key_file")):
        if getattr(tls, key) is not None:
            add(key, f"inline {key} is not supported; use {use} (a private key belongs in "
                     "its own file, readable only by the exporter)")
    if tls.client_auth_type in UNVERIFIED_CLIENT_AUTH:
        add("client_auth_type", f"{tls.client_auth_type} is not supported: it accepts "
                                "certificates without verifying them; use "
                                "RequireAndVerifyClientCert (or VerifyClientCertIfGiven) "
                                "with client_ca_file")
    elif tls.client_auth_type not in CLIENT_AUTH:
        add("client_auth_type", f"unknown client_auth_type {tls.client_auth_type!r}; use "
                                "NoClientCert, VerifyClientCertIfGiven or "
                                "RequireAndVerifyClientCert")
    for key in ("min_version", "max_version"):
        if getattr(tls, key) not in TLS_VERSIONS:
            add(key, f"{key} must be one of {', '.join(TLS_VERSIONS)}")
    if (tls.min_version in TLS_VERSIONS and tls.max_version in TLS_VERSIONS
            and TLS_VERSIONS[tls.min_version] > TLS_VERSIONS[tls.max_version]):
        add("min_version", "min_version is above max_version")
    for key in ("cert_file", "key_file"):
        if getattr(tls, key) is None and tls.cert is None and tls.key is None:
            add(None, f"{key} is required when tls_server_config has settings")
    has_ca = tls.client_ca_file is not None or tls.client_ca is not None
    mode = CLIENT_AUTH.get(tls.client_auth_type)
    if has_ca and mode == ssl.CERT_NONE:
        add("client_ca_file" if tls.client_ca_file else "client_ca",
            "a client CA is configured without a client_auth_type that verifies "
            "certificates (use RequireAndVerifyClientCert)")
    if mode in (ssl.CERT_OPTIONAL, ssl.CERT_REQUIRED) and not has_ca:
        add("client_auth_type", f"{tls.client_auth_type} needs client_ca_file (the CA that "
                                "issues the client certificates)")
    if tls.client_allowed_sans is not None and mode != ssl.CERT_REQUIRED:
        add("client_allowed_sans", "client_allowed_sans needs client_auth_type "
                                   "RequireAndVerifyClientCert")
    return problems


def _read(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read()


def _no_password() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key.
    return b""


def _tls_context(tls: TLSServerSettings, path: Path, doc: YamlDocument
                 ) -> ssl.SSLContext:
    base = ("tls_server_config",)
    problems: list[str] = []
    assert tls.cert_file is not None and tls.key_file is not None
    for key in ("cert_file", "key_file", "client_ca_file"):
        file = getattr(tls, key)
        if file is None:
            continue
        try:
            _read(file)
        except OSError as exc:
            problems.append(_problem(path, doc, (*base, key),
                                     f"cannot read {file}: {exc.strerror}"))
    if problems:
        raise WebConfigError(path, problems)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.minimum_version = TLS_VERSIONS[tls.min_version]
        context.maximum_version = TLS_VERSIONS[tls.max_version]
    except ValueError as exc:
        raise WebConfigError(path, [_problem(path, doc, (*base, "min_version"),
                                             f"this OpenSSL refuses it: {exc}")]) from None
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file, password=_no_password)
    except ssl.SSLError as exc:
        raise WebConfigError(path, [_problem(
            path, doc, (*base, "cert_file"),
            f"{tls.cert_file} and {tls.key_file} are not a matching PEM certificate and "
            f"unencrypted private key ({exc.reason or exc})")]) from None
    if tls.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    context.set_alpn_protocols(["http/1.1"])
    context.verify_mode = CLIENT_AUTH[tls.client_auth_type]
    if tls.client_ca_file is not None or tls.client_ca is not None:
        key = "client_ca_file" if tls.client_ca_file is not None else "client_ca"
        try:
            if tls.client_ca_file is not None:
                context.load_verify_locations(cafile=tls.client_ca_file)
            else:
                context.load_verify_locations(cadata=tls.client_ca)
        except (ssl.SSLError, ValueError) as exc:
            raise WebConfigError(path, [_problem(path, doc, (*base, key),
                                                 f"not a PEM CA bundle ({exc})")]) from None
    return context


def _check_users(users: Mapping[str, SecretStr], path: Path,
                 doc: YamlDocument) -> list[str]:
    problems = []
    for user, hashed in users.items():
        loc = ("basic_auth_users", user)
        if ":" in user or not user:
            problems.append(_problem(path, doc, loc, "a user name must be non-empty and "
                                                       "cannot contain ':' (basic auth "
                                                       "splits on it)"))
        if not _BCRYPT_HASH.match(hashed.get_secret_value()):
            problems.append(_problem(path, doc, loc, "must be a bcrypt hash, e.g. from "
                                                       "htpasswd -nBC 10 \"\" | tr -d ':\\n'"))
    return problems


def _check_headers(headers: Mapping[str, str], path: Path,
                   doc: YamlDocument) -> list[str]:
    problems = []
    for name, value in headers.items():
        loc = ("http_server_config", "headers", name)
        if name not in EXTRA_HEADERS:
            problems.append(_problem(path, doc, loc,
                                     f"HTTP header {name!r} can not be configured; allowed: "
                                     f"{', '.join(EXTRA_HEADERS)}"))
        elif EXTRA_HEADERS[name] and value not in EXTRA_HEADERS[name]:
            problems.append(_problem(path, doc, loc, f"must be one of "
                                                       f"{', '.join(EXTRA_HEADERS[name])}"))
        elif any(c in value for c in "\r\n\0"):
            problems.append(_problem(path, doc, loc, "a header value cannot contain a "
                                                       "line break"))
    return problems


def load_web_config(path: Path | str) -> WebSettings:
    """Read and validate the web configuration file; raise WebConfigError on any problem."""
    path = Path(path)
    try:
        doc = read_yaml(path, what="the web configuration file", max_bytes=1024 * 1024)
    except YamlError as exc:
        raise WebConfigError(path, [str(exc)]) from None
    data = doc.data
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise WebConfigError(path, [f"{path}: the top level must be a mapping of settings"])
    try:
        model = WebConfigModel.model_validate(data,
                                              context={"base_dir": path.resolve().parent})
    except ValidationError as exc:
        raise WebConfigError(path, _validation_problems(exc, path, doc)) from None

    problems: list[str] = []
    tls = model.tls_server_config
    tls_enabled = tls is not None and bool(tls.model_fields_set)
    if tls is not None and tls_enabled:
        problems += _check_tls(tls, path, doc)
    users = model.basic_auth_users or {}
    problems += _check_users(users, path, doc)
    http = model.http_server_config or HTTPServerSettings()
    problems += _check_headers(http.headers, path, doc)
    rate = model.rate_limit
    if rate is not None and rate.interval.total_seconds() > 0 and rate.burst < 1:
        problems.append(_problem(path, doc, ("rate_limit", "burst"),
                                 "burst must be at least 1 when interval is set"))
    if users:
        try:
            _bcrypt()
        except RuntimeError as exc:
            problems.append(_problem(path, doc, ("basic_auth_users",), str(exc)))
    if problems:
        raise WebConfigError(path, problems)

    context = _tls_context(tls, path, doc) if tls is not None and tls_enabled else None
    watched = tuple(p for p in ((tls.cert_file, tls.key_file, tls.client_ca_file)
                                if tls is not None else ()) if p is not None)
    limiter = None
    if rate is not None and rate.interval.total_seconds() > 0:
        limiter = TokenBucket(rate.interval.total_seconds(), rate.burst)
    return WebSettings(
        path=path,
        tls=context,
        allowed_sans=(tuple(tls.client_allowed_sans)
                      if tls is not None and tls.client_allowed_sans is not None else None),
        users={user: hashed.get_secret_value().encode() for user, hashed in users.items()},
        headers=dict(http.headers),
        limiter=limiter,
        watched=watched,
    )


def _signature(paths: tuple[Path, ...]) -> tuple[object, ...]:
    out: list[object] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append(None)
            continue
        out.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(out)


class WebConfigWatcher:
    """The current web settings, re-read when the file or a file it names changes.

    ``current()`` costs a few ``stat`` calls, so the server calls it for every
    connection and request. A broken change is logged once and the previous settings
    stay in force until the files change again.
    """

    def __init__(self, path: Path | str | None) -> None:
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        if self.path is None:
            self._settings = PLAIN_HTTP
            self._signature: tuple[object, ...] = ()
            return
        self._signature = _signature(self._watched(None))
        self._settings = load_web_config(self.path)
        self._signature = self._resign(self._signature, None, self._settings)
        log.info("web configuration %s: TLS %s, basic auth %s", self.path,
                 "on" if self._settings.tls else "off",
                 f"on ({len(self._settings.users)} user(s))" if self._settings.users else "off")

    def _watched(self, settings: WebSettings | None) -> tuple[Path, ...]:
        assert self.path is not None
        return (self.path, *(settings.watched if settings else ()))

    def _resign(self, before: tuple[object, ...], old: WebSettings | None,
                new: WebSettings) -> tuple[object, ...]:
        # Keep the signature taken before reading when the same files are watched, so a
        # change made while we were reading is picked up on the next call.
        if self._watched(old) == self._watched(new):
            return before
        return _signature(self._watched(new))

    def current(self) -> WebSettings:
        if self.path is None:
            return self._settings
        with self._lock:
            old = self._settings
            signature = _signature(self._watched(old))
            if signature == self._signature:
                return old
            self._signature = signature
            try:
                new = load_web_config(self.path)
            except WebConfigError as exc:
                log.error("%s\nprevious web configuration kept", exc)
                return old
            if (new.tls is None) != (old.tls is None):
                log.error("%s: turning TLS %s needs a restart; previous web configuration "
                          "kept", self.path, "on" if new.tls else "off")
                return old
            if (new.limiter and old.limiter and new.limiter.interval == old.limiter.interval
                    and new.limiter.burst == old.limiter.burst):
                new = replace(new, limiter=old.limiter)  # keep the bucket's state
            self._signature = self._resign(signature, old, new)
            self._settings = new
            log.info("web configuration reloaded from %s", self.path)
            return new


class Authenticator:
    """Checks basic-auth credentials against bcrypt hashes, caching the verdicts.

    bcrypt is slow on purpose (~70 ms at cost 10); Prometheus sends the same
    credentials on every scrape, so verdicts are cached, keyed by a keyed hash of
    (user, hash, password) that never holds the password itself. Only one bcrypt
    comparison runs at a time, so a flood of wrong passwords cannot take every core.
    """

    def __init__(self, cache_size: int = 1024) -> None:
        self._key = os.urandom(32)
        self._cache: OrderedDict[bytes, bool] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._bcrypt_lock = threading.Lock()

    def check(self, users: Mapping[str, bytes], authorization: str | None) -> bool:
        credentials = _basic_credentials(authorization)
        if credentials is None:
            return False
        user, password = credentials
        hashed = users.get(user)
        known = hashed is not None
        if hashed is None:
            hashed = _FAKE_HASH
        key = hmac.new(self._key, b"\0".join((user.encode(), hashed, password)),
                       hashlib.sha256).digest()
        with self._lock:
            verdict = self._cache.get(key)
            if verdict is not None:
                self._cache.move_to_end(key)
                return verdict and known
        bcrypt = _bcrypt()
        with self._bcrypt_lock:
            try:
                verdict = bcrypt.checkpw(password, hashed)
            except ValueError:  # longer than bcrypt's 72 bytes, or an unusable hash
                verdict = False
        verdict = verdict and known
        with self._lock:
            self._cache[key] = verdict
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return verdict


def _basic_credentials(authorization: str | None) -> tuple[str, bytes] | None:
    if not authorization:
        return None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    return user, password.encode("utf-8")


def _bcrypt() -> Any:
    try:
        import bcrypt
    except ImportError:
        raise RuntimeError("basic_auth_users needs the 'bcrypt' package: "
                           "pip install bcrypt") from None
    return bcrypt


def duration_seconds(text: str) -> float:
    """argparse type for ``10s``-style durations (or a number of seconds), as seconds."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    try:
        if seconds is None:
            seconds = parse_duration(text).total_seconds()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be greater than zero")
    return seconds


def positive_int(text: str) -> int:
    """argparse type for a count that must be at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be at least 1")
    return value
