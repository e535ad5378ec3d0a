"""The ``elastic_fleet`` collector: Elastic Agents enrolled in Fleet as workloads.

A second agent source for telemetry coverage (DESIGN, "Measuring every domain"), beside
``defender_endpoint``. Kibana's Fleet API lists every enrolled agent with the status
Fleet computes from its check-ins (``GET /api/fleet/agents``, paged with ``page`` and
``perPage``; from Elastic 9.1 a ``nextSearchAfter`` cursor pages past 10,000). One
:class:`~collectors.records_detection.Workload` per host:

* ``online`` and ``updating`` (online, applying a policy or an upgrade): ``healthy``;
* ``error``, ``degraded`` (the agent or one of its integrations reports a problem),
  ``offline`` (no check-in within the expected time), ``enrolling`` (never checked in),
  ``unenrolling`` and ``orphaned`` (its Fleet Server is gone): ``unhealthy``;
* ``unenrolled``, ``inactive`` and ``uninstalled``: ``none``, the host is left without
  an agent (Kibana lists them only with ``show_inactive``);
* any other value: skipped and counted ``unmapped_value``.

A separate collector type, not a part of ``elastic``: Fleet is a Kibana API with its own
privilege (``fleet-agents-read``), often run by another team than the SIEM, and an
inventory listing has nothing in common with the alert collector's incremental passes.

The listing is a point in time, read whole every run: the result is ``complete`` for
the Workload kind. The id is :func:`~collectors.records_detection.normalize_host` of
``local_metadata.host.hostname``, the derive module's join key, so an agent meets the
same host from MDE, a cloud inventory or a file; several agents of one host become one
record, the best-reported one. Host names are never logged.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, ClassVar

import httpx
from pydantic import Field, field_validator, model_validator

from collectors.base import (
    CollectContext,
    CollectionResult,
    Collector,
    CollectorError,
    ErrorKind,
)
from collectors.http import ApiClient, HttpSettings, page_objects, parse_timestamp
from collectors.records import RecordKind
from collectors.records_detection import Telemetry, Workload, normalize_host
from collectors.settings import Secret, StrictModel
from collectors.workloads import WorkloadJoin

MAX_PAGE_SIZE = 10_000  # documented maximum of items per page
WORKLOAD_KIND = "host"

# Fleet's agent statuses (Kibana, fleet/common/constants/agent.ts ``AgentStatuses``,
# plus ``orphaned`` and ``uninstalled`` of 8.18 / 9.x).
DEFAULT_STATUSES: dict[str, Telemetry] = {
    "online": Telemetry.HEALTHY,
    "updating": Telemetry.HEALTHY,
    "error": Telemetry.UNHEALTHY,
    "degraded": Telemetry.UNHEALTHY,
    "offline": Telemetry.UNHEALTHY,
    "enrolling": Telemetry.UNHEALTHY,
    "unenrolling": Telemetry.UNHEALTHY,
    "orphaned": Telemetry.UNHEALTHY,
    "unenrolled": Telemetry.NONE,
    "inactive": Telemetry.NONE,
    "uninstalled": Telemetry.NONE,
}
_ENUM_VALUE = re.compile(r"^[A-Za-z_]{1,60}$")


class ElasticFleetSettings(StrictModel):
    url: str = Field(description="Kibana URL")
    space: str = Field(default="default", pattern=r"^[a-z0-9_-]+$")
    api_key: Secret | None = Field(default=None, description="encoded API key, sent as ApiKey")
    username: str | None = None
    password: Secret | None = None
    page_size: int = Field(default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE,
                           description="perPage")
    kuery: str | None = Field(default=None, description="KQL filter on the agents, e.g. "
                              "policy_id:\"servers\"")
    show_inactive: bool = Field(default=False, description="also list inactive and "
                                "unenrolled agents (telemetry none)")
    statuses: dict[str, Telemetry] = Field(default_factory=dict,
                                           description="override or extend the status mapping")
    http: HttpSettings = Field(default_factory=HttpSettings)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s):// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _one_auth(self) -> ElasticFleetSettings:
        basic = self.username is not None or self.password is not None
        if self.api_key is not None and basic:
            raise ValueError("set either api_key or username/password, not both")
        if self.api_key is None and not (self.username and self.password is not None):
            raise ValueError("set api_key, or both username and password")
        return self

    @property
    def agents_path(self) -> str:
        prefix = "" if self.space == "default" else f"/s/{self.space}"
        return f"{prefix}/api/fleet/agents"

    def status_map(self) -> dict[str, Telemetry]:
        return {**DEFAULT_STATUSES, **{k.lower(): v for k, v in self.statuses.items()}}


class ElasticFleetCollector(Collector):
    """Fleet's enrolled Elastic Agents as workloads (see the module docstring)."""

    config_model: ClassVar[type[StrictModel]] = ElasticFleetSettings
    kinds: ClassVar[frozenset[RecordKind]] = frozenset({RecordKind.WORKLOAD})

    def __init__(self, name: str, settings: StrictModel, **client_options: Any) -> None:
        super().__init__(name, settings)
        assert isinstance(settings, ElasticFleetSettings)
        self.config: ElasticFleetSettings = settings
        self._client_options = client_options  # tests: sleep=, transport=
        self._logged_values: set[str] = set()

    def _client(self) -> ApiClient:
        s = self.config
        headers = {"Accept": "application/json", "kbn-xsrf": "true"}
        auth: httpx.Auth | None = None
        if s.api_key is not None:
            headers["Authorization"] = f"ApiKey {s.api_key.get_secret_value()}"
        else:
            assert s.username is not None and s.password is not None
            auth = httpx.BasicAuth(s.username, s.password.get_secret_value())
        return ApiClient(s.url, s.http, headers=headers, auth=auth, **self._client_options)

    def _params(self, page: int, search_after: str | None) -> dict[str, Any]:
        s = self.config
        params: dict[str, Any] = {"perPage": s.page_size,
                                  "showInactive": "true" if s.show_inactive else "false"}
        if search_after is not None:
            params["searchAfter"] = search_after
        else:
            params["page"] = page
        if s.kuery:
            params["kuery"] = s.kuery
        return params

    async def _agents(self, client: ApiClient, errors: Counter[ErrorKind]
                      ) -> AsyncIterator[dict[str, Any]]:
        """Every agent, page by page; a ``nextSearchAfter`` cursor is preferred when given.

        The listing ends on a short page or once ``total`` agents have been read. A page
        that starts with an agent already seen (a Kibana ignoring ``page``) fails the
        run rather than looping.
        """
        path = self.config.agents_path
        page, search_after = 1, None
        read = 0
        firsts: set[str] = set()
        while True:
            body, _ = await client.get_json(path, params=self._params(page, search_after))
            if not isinstance(body, dict) or not isinstance(body.get("items"), list):
                raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                     f"GET {path}: no 'items' array in the response")
            items = body["items"]
            total = body.get("total")
            for item in page_objects(items, firsts, f"GET {path}", errors):
                yield item
            read += len(items)
            if len(items) < self.config.page_size:
                return
            if isinstance(total, int) and not isinstance(total, bool) and read >= total:
                return
            cursor = body.get("nextSearchAfter")
            if cursor is not None:
                # A JSON-encoded array of sort values; passed back as Kibana gave it.
                search_after = cursor if isinstance(cursor, str) else json.dumps(cursor)
            elif search_after is not None:
                if isinstance(total, int) and read < total:
                    # A listing cut short would delete the unread agents from the store.
                    raise CollectorError(ErrorKind.MALFORMED_RESPONSE,
                                         f"GET {path}: a full page without nextSearchAfter "
                                         f"after {read} of {total} agents")
                return
            else:
                page += 1

    def _unmapped(self, ctx: CollectContext, errors: Counter[ErrorKind], value: str) -> None:
        errors[ErrorKind.UNMAPPED_VALUE] += 1
        shown = value if _ENUM_VALUE.match(value) else "?"
        if shown not in self._logged_values:
            self._logged_values.add(shown)
            ctx.logger.warning("%s: unknown agent status %r; agent skipped (add it to "
                               "statuses in the config)", ctx.name, shown)

    def workload(self, ctx: CollectContext, item: dict[str, Any],
                 errors: Counter[ErrorKind]) -> Workload | None:
        """One agent as a Workload, or ``None`` when skipped (counted)."""
        status = item.get("status")
        if not isinstance(status, str) or not status:
            errors[ErrorKind.MALFORMED_RECORD] += 1
            return None
        telemetry = self.config.status_map().get(status.lower())
        if telemetry is None:
            self._unmapped(ctx, errors, status)
            return None
        workload_id = _workload_id(item)
        if workload_id is None:
            errors[ErrorKind.MALFORMED_RECORD] += 1
            return None
        return Workload(id=workload_id, source=ctx.name, kind=WORKLOAD_KIND,
                        telemetry=telemetry, last_seen_at=_ts(item.get("last_checkin")))

    async def check(self, ctx: CollectContext) -> list[str]:
        """One page of one agent: URL, credentials and the fleet-agents-read privilege."""
        async with self._client() as client:
            try:
                params = {**self._params(1, None), "perPage": 1}
                await client.get_json(self.config.agents_path, params=params)
            except CollectorError as exc:
                return [f"{exc.kind.value}: {exc}"]
        return []

    async def collect(self, ctx: CollectContext) -> CollectionResult:
        errors: Counter[ErrorKind] = Counter()
        join = WorkloadJoin()
        agents = 0
        async with self._client() as client:
            async for item in self._agents(client, errors):
                agents += 1
                workload = self.workload(ctx, item, errors)
                if workload is None:
                    continue
                join.add(workload)
        ctx.logger.info("%s: %d agents, %d workloads (%d duplicate agents joined, %d "
                        "skipped)", ctx.name, agents, len(join), join.duplicates,
                        sum(errors.values()))
        return CollectionResult(records={RecordKind.WORKLOAD: join.records()},
                                complete=frozenset({RecordKind.WORKLOAD}),
                                record_errors=errors)


def _workload_id(item: dict[str, Any]) -> str | None:
    """The join key: the host name's first label; ``fleet:<agent id>`` without one."""
    metadata = item.get("local_metadata")
    host = metadata.get("host") if isinstance(metadata, dict) else None
    name = host.get("hostname") if isinstance(host, dict) else None
    if isinstance(name, str) and name.strip().rstrip("."):
        return normalize_host(name)
    agent_id = item.get("id")
    if isinstance(agent_id, str) and agent_id.strip():
        return "fleet:" + agent_id.strip().lower()
    return None


def _ts(value: Any) -> datetime | None:
    """A timestamp, or None when absent or unreadable (never a guessed one)."""
    try:
        return parse_timestamp(value)
    except ValueError:
        return None
