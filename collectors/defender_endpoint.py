"""The ``defender_endpoint`` collector: Microsoft Defender for Endpoint machines as workloads.

Telemetry coverage (DESIGN, "Measuring every domain") needs, for every workload, whether
a security agent watches it. Defender for Endpoint's machine inventory
(``GET /api/machines``) says so for each device it knows: onboarded devices with their
sensor health, and devices that device discovery found on the network but that carry
no sensor (``CanBeOnboarded``, ``Unsupported``, ``InsufficientInfo``). One
:class:`~collectors.records_detection.Workload` per device:

* Onboarded, ``healthStatus`` Active: ``healthy``;
* Onboarded, Inactive, ImpairedCommunication, NoSensorData or
  NoSensorDataImpairedCommunication: ``unhealthy``;
* Onboarded, Unknown: ``unknown`` (in the denominator, never covered);
* CanBeOnboarded, Unsupported, InsufficientInfo: ``none`` (a device without an agent);
* any other value: the machine is skipped and counted ``unmapped_value``.

The inventory is a point in time, so every run lists it whole and the result is
``complete`` for the Workload kind: a machine gone from the listing is gone from the
store. The id is the derive module's join key, :func:`~collectors.records_detection.
normalize_host` of ``computerDnsName`` (``WEB-1.corp.example`` -> ``web-1``), so an
agent's record meets the same host from an inventory or another agent source; several
machine entries of one host (a re-onboarded device leaves its old entry behind) become
one record, the best-reported one, as the derivation would join them anyway.

Authentication is an Entra ID app with the ``Machine.Read.All`` application permission;
tokens come from the project's one Entra token helper
(:class:`collectors.azure_auth.TokenProvider`), which survives between runs and makes no
client outlive a run's event loop. Host names are never logged: logs carry counts and
the vendor's enum values.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any, ClassVar

import httpx
from pydantic import Field, field_validator

from collectors.azure_auth import TokenProvider
from collectors.base import (
    CollectContext,
    CollectionResult,
    Collector,
    CollectorError,
    ErrorKind,
)
from collectors.http import (
    ApiClient,
    HttpSettings,
    decode_json,
    page_objects,
    parse_timestamp,
)
from collectors.records import RecordKind
from collectors.records_detection import Telemetry, Workload, normalize_host
from collectors.settings import Secret, StrictModel
from collectors.workloads import WorkloadJoin

MACHINES_PATH = "/api/machines"
MAX_PAGE_SIZE = 10_000  # documented maximum of $top
WORKLOAD_KIND = "host"

# Keys are compared case-insensitively: the machine resource page spells the value
# "onboarded" while the listing returns "Onboarded".
ONBOARDED = "onboarded"
DEFAULT_NOT_ONBOARDED: dict[str, Telemetry] = {
    "canbeonboarded": Telemetry.NONE,
    "unsupported": Telemetry.NONE,
    "insufficientinfo": Telemetry.NONE,
}
DEFAULT_HEALTH: dict[str, Telemetry] = {
    "active": Telemetry.HEALTHY,
    "inactive": Telemetry.UNHEALTHY,
    "impairedcommunication": Telemetry.UNHEALTHY,
    "nosensordata": Telemetry.UNHEALTHY,
    "nosensordataimpairedcommunication": Telemetry.UNHEALTHY,
    "unknown": Telemetry.UNKNOWN,
}
_ENUM_VALUE = re.compile(r"^[A-Za-z]{1,60}$")


class DefenderEndpointSettings(StrictModel):
    tenant_id: str
    client_id: str
    client_secret: Secret
    authority_host: str = "https://login.microsoftonline.com"
    api_endpoint: str = Field(
        default="https://api.securitycenter.microsoft.com",
        description="the API host; a geo host (eu.api.security.microsoft.com) or a US "
        "Government host works the same")
    resource: str = Field(
        default="https://api.securitycenter.microsoft.com",
        description="the token's resource (scope = resource + /.default); differs only in "
        "government clouds")
    page_size: int = Field(default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE,
                           description="$top per request")
    exclude_tags: list[str] = Field(
        default_factory=list, description="machines carrying any of these machineTags are "
        "not workloads (lab or decommissioned devices)")
    health_statuses: dict[str, Telemetry] = Field(
        default_factory=dict, description="override or extend the healthStatus mapping of "
        "onboarded machines")
    onboarding_statuses: dict[str, Telemetry] = Field(
        default_factory=dict, description="override or extend the mapping of machines that "
        "are not onboarded")
    http: HttpSettings = Field(default_factory=HttpSettings)

    @field_validator("authority_host", "api_endpoint", "resource")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("must be an https:// URL")
        return value.rstrip("/")

    @field_validator("onboarding_statuses")
    @classmethod
    def _not_onboarded_only(cls, value: dict[str, Telemetry]) -> dict[str, Telemetry]:
        if any(key.casefold() == ONBOARDED for key in value):
            raise ValueError("Onboarded machines are mapped by health_statuses")
        return value

    def health_map(self) -> dict[str, Telemetry]:
        return {**DEFAULT_HEALTH, **{k.casefold(): v for k, v in self.health_statuses.items()}}

    def onboarding_map(self) -> dict[str, Telemetry]:
        return {**DEFAULT_NOT_ONBOARDED,
                **{k.casefold(): v for k, v in self.onboarding_statuses.items()}}


class DefenderEndpointCollector(Collector):
    """Defender for Endpoint's machine inventory as workloads (see the module docstring)."""

    config_model: ClassVar[type[StrictModel]] = DefenderEndpointSettings
    kinds: ClassVar[frozenset[RecordKind]] = frozenset({RecordKind.WORKLOAD})

    def __init__(self, name: str, settings: StrictModel, *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(name, settings)
        assert isinstance(settings, DefenderEndpointSettings)
        self.config: DefenderEndpointSettings = settings
        self._sleep = sleep
        self._transport = transport
        self.tokens = TokenProvider(settings,
                                    lambda: self._client(settings.authority_host))
        self._logged_values: set[tuple[str, str]] = set()

    def _client(self, base_url: str) -> ApiClient:
        return ApiClient(base_url, self.config.http, sleep=self._sleep,
                         transport=self._transport)

    @property
    def scope(self) -> str:
        return self.config.resource + "/.default"

    # -- HTTP ------------------------------------------------------------------------

    async def _get(self, client: ApiClient, url: str,
                   params: dict[str, Any] | None) -> Any:
        """GET with a bearer token; on 401 one fresh token (expired or revoked), then auth."""
        for attempt in range(2):
            token = await self.tokens.token(self.scope)
            response = await client.request(
                "GET", url, params=params, headers={"Authorization": f"Bearer {token}"},
                accept=frozenset({401}))
            if response.status_code != 401:
                return decode_json(response)
            self.tokens.invalidate(self.scope)
            if attempt == 1:
                break
        raise CollectorError(ErrorKind.AUTH, f"GET {MACHINES_PATH}: HTTP 401 with a fresh "
                             "token (check the app's Machine.Read.All permission and consent)")

    async def _machines(self, client: ApiClient, errors: Counter[ErrorKind]
                        ) -> AsyncIterator[dict[str, Any]]:
        """Every machine, following ``@odata.nextLink``, or ``$skip`` after a full page.

        The service pages by ``@odata.nextLink`` when it caps a page itself; a ``$top``
        the client sets may instead end the answer without a link, so a page as long as
        ``$top`` with no link is followed by the next ``$skip``. Items that are not
        objects are skipped and counted.
        """
        top = self.config.page_size
        host = httpx.URL(self.config.api_endpoint).host
        url: str = MACHINES_PATH
        params: dict[str, Any] | None = {"$top": top}
        skip = 0
        seen: set[str] = set()
        firsts: set[str] = set()  # the first machine id of each page
        while True:
            body = await self._get(client, url, params)
            if not isinstance(body, dict) or not isinstance(body.get("value"), list):
                raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                     f"GET {MACHINES_PATH}: no 'value' array in the response")
            items = body["value"]
            # a service that ignores $skip would answer the same page for ever
            for item in page_objects(items, firsts, f"GET {MACHINES_PATH}", errors):
                yield item
            link = body.get("@odata.nextLink")
            if link:
                if not isinstance(link, str) or httpx.URL(link).host != host:
                    # Never send the bearer token to a host we were not configured for.
                    raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                         f"GET {MACHINES_PATH}: @odata.nextLink points to "
                                         "another host")
                if link in seen:
                    raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                         f"GET {MACHINES_PATH}: @odata.nextLink repeats a page")
                seen.add(link)
                url, params = link, None
            elif params is not None and len(items) >= top:
                skip += len(items)
                params = {"$top": top, "$skip": skip}
            else:
                return

    # -- mapping ---------------------------------------------------------------------

    def _unmapped(self, ctx: CollectContext, errors: Counter[ErrorKind], field: str,
                  value: str) -> None:
        errors[ErrorKind.UNMAPPED_VALUE] += 1
        shown = value if _ENUM_VALUE.match(value) else "?"
        if (field, shown) not in self._logged_values:
            self._logged_values.add((field, shown))
            ctx.logger.warning("%s: unknown %s %r; machine skipped (add it to the mapping "
                               "in the config)", ctx.name, field, shown)

    def _telemetry(self, ctx: CollectContext, item: dict[str, Any],
                   errors: Counter[ErrorKind]) -> Telemetry | None:
        """The machine's telemetry, or ``None`` when skipped (and counted)."""
        onboarding = item.get("onboardingStatus")
        if not isinstance(onboarding, str) or not onboarding:
            errors[ErrorKind.MALFORMED_RECORD] += 1
            return None
        if onboarding.casefold() != ONBOARDED:
            mapped = self.config.onboarding_map().get(onboarding.casefold())
            if mapped is None:
                self._unmapped(ctx, errors, "onboardingStatus", onboarding)
            return mapped
        health = item.get("healthStatus")
        if not isinstance(health, str) or not health:
            errors[ErrorKind.MALFORMED_RECORD] += 1
            return None
        mapped = self.config.health_map().get(health.casefold())
        if mapped is None:
            self._unmapped(ctx, errors, "healthStatus", health)
        return mapped

    def _workload_id(self, item: dict[str, Any]) -> str | None:
        """The join key: the host name's first label; the machine id when it has no name."""
        name = item.get("computerDnsName")
        if isinstance(name, str) and name.strip().rstrip("."):
            return normalize_host(name)
        machine_id = item.get("id")
        if isinstance(machine_id, str) and machine_id.strip():
            # Joins nothing, but the device is still a workload with a known state.
            return "mde:" + machine_id.strip().lower()
        return None

    def _excluded(self, item: dict[str, Any]) -> bool:
        tags = item.get("machineTags")
        if not self.config.exclude_tags or not isinstance(tags, list):
            return False
        return any(isinstance(tag, str) and tag in self.config.exclude_tags for tag in tags)

    def workload(self, ctx: CollectContext, item: dict[str, Any],
                 errors: Counter[ErrorKind]) -> Workload | None:
        """One machine as a Workload, or ``None`` when excluded or skipped (counted)."""
        if self._excluded(item):
            return None
        workload_id = self._workload_id(item)
        if workload_id is None:
            errors[ErrorKind.MALFORMED_RECORD] += 1
            return None
        telemetry = self._telemetry(ctx, item, errors)
        if telemetry is None:
            return None
        return Workload(id=workload_id, source=ctx.name, kind=WORKLOAD_KIND,
                        telemetry=telemetry, last_seen_at=_ts(item.get("lastSeen")))

    # -- check / collect -------------------------------------------------------------

    async def check(self, ctx: CollectContext) -> list[str]:
        """A token and one machine: credentials, permission and endpoint."""
        async with self._client(self.config.api_endpoint) as client:
            try:
                await self._get(client, MACHINES_PATH, {"$top": 1})
            except CollectorError as exc:
                return [f"{exc.kind.value}: {exc}"]
        return []

    async def collect(self, ctx: CollectContext) -> CollectionResult:
        errors: Counter[ErrorKind] = Counter()
        join = WorkloadJoin()
        machines = excluded = 0
        async with self._client(self.config.api_endpoint) as client:
            async for item in self._machines(client, errors):
                machines += 1
                workload = self.workload(ctx, item, errors)
                if workload is None:
                    excluded += self._excluded(item)
                    continue
                join.add(workload)
        ctx.logger.info("%s: %d machines, %d workloads (%d duplicate entries joined, %d "
                        "excluded by tag, %d skipped)", ctx.name, machines, len(join),
                        join.duplicates, excluded, sum(errors.values()))
        return CollectionResult(records={RecordKind.WORKLOAD: join.records()},
                                complete=frozenset({RecordKind.WORKLOAD}),
                                record_errors=errors)


def _ts(value: Any) -> datetime | None:
    """A timestamp, or None when absent or unreadable (never a guessed one)."""
    try:
        return parse_timestamp(value)
    except ValueError:
        return None
