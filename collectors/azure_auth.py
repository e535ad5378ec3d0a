"""Microsoft Entra ID (Azure AD) client-credentials tokens shared by the Microsoft collectors.

Sentinel, Entra ID, Defender for Endpoint and Defender for Cloud all authenticate the
same way: an app registration's client id and secret exchanged at the tenant's token
endpoint for a bearer token per resource scope. One implementation keeps the subtle
parts (a token outliving a run, a lock that must not outlive its event loop) in one place.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from pydantic import SecretStr

from collectors.base import CollectorError, ErrorKind
from collectors.http import ApiClient, decode_json


class ClientCredentials(Protocol):
    """What the token endpoint needs from a collector's settings."""

    @property
    def tenant_id(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def client_secret(self) -> SecretStr: ...


class TokenProvider:
    """Azure AD client-credentials tokens, one per scope, cached until shortly before expiry.

    The instance lives as long as the collector, so a token survives between runs and
    the token endpoint sees one request an hour, not one per run.

    Only the cache outlives a run. Each run of the exporter has an event loop of its own,
    so nothing bound to a loop (an HTTP client, a lock) may be kept between runs: the
    token endpoint is called through a client made for that one request, and the lock
    is re-created whenever the running loop is not the one it was made on.
    """

    REFRESH_MARGIN = 300.0

    def __init__(self, settings: ClientCredentials, client_factory: Callable[[], ApiClient],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._client_factory = client_factory
        self._clock = clock
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    def invalidate(self, scope: str) -> None:
        self._cache.pop(scope, None)

    def _loop_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    async def token(self, scope: str) -> str:
        async with self._loop_lock():
            cached = self._cache.get(scope)
            if cached and cached[1] - self.REFRESH_MARGIN > self._clock():
                return cached[0]
            token, lifetime = await self._fetch(scope)
            self._cache[scope] = (token, self._clock() + lifetime)
            return token

    async def _fetch(self, scope: str) -> tuple[str, float]:
        s = self._settings
        form = {
            "grant_type": "client_credentials",
            "client_id": s.client_id,
            "client_secret": s.client_secret.get_secret_value(),
            "scope": scope,
        }
        try:
            async with self._client_factory() as client:
                response = await client.request(
                    "POST", f"/{s.tenant_id}/oauth2/v2.0/token", data=form
                )
        except CollectorError as exc:
            # 400 invalid_client / unauthorized_client is a credential problem, not a bug.
            if exc.kind in (ErrorKind.CLIENT, ErrorKind.PERMISSION):
                raise CollectorError(ErrorKind.AUTH, f"Azure AD token request refused: {exc}") \
                    from None
            raise CollectorError(exc.kind, f"Azure AD token endpoint: {exc}") from None
        body = decode_json(response)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                 "Azure AD token response has no access_token")
        try:
            lifetime = float(body.get("expires_in", 3599))
        except (TypeError, ValueError):
            lifetime = 3599.0
        return token, lifetime
