"""The running exporter: collectors on a schedule, store, snapshot swaps, reload.

Flow of one run: the scheduler calls :meth:`Exporter.run_collector` in a worker
thread; the collector's coroutine runs with a timeout; on success the result is
committed in one transaction; either way a new snapshot is built and swapped in with
one assignment. Rebuilds are serialised so two runs ending together cannot interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from collectors.base import (
    CollectContext,
    CollectionResult,
    Collector,
    CollectorError,
    ErrorKind,
    SourceGauge,
)
from collectors.http import RequestStats, run_request_stats
from exporter.assess import MaturityConfigError, MaturityModel, assess, load_model
from exporter.config import CollectorEntry, ConfigError, LoadedConfig, load_config
from exporter.derive import (
    FAMILIES,
    DerivationSettings,
    Derived,
    MetricKey,
    derive_all,
    point_in_time_values,
)
from exporter.health import HealthBook
from exporter.plugins import load_collector_class
from exporter.publish import prerender
from exporter.quarters import history_start
from exporter.review import with_recorded_reviews
from exporter.snapshot import Snapshot, derived_families, merge_families
from exporter.store import Store, StoreError

log = logging.getLogger("devsecops_exporter")
RESERVED_PREFIXES = ("devsecops_collector_", "devsecops_maturity_", "devsecops_build",
                     "devsecops_snapshot", "devsecops_config")


def utcnow() -> datetime:
    return datetime.now(UTC)


def derivation_settings(loaded: LoadedConfig) -> DerivationSettings:
    config = loaded.config
    return DerivationSettings(
        sla_days={s.value: d for s, d in config.sla.days.items()},
        sla_window=config.sla.window,
        fiscal_start_month=config.quarters.fiscal_year_start_month,
        include_forks=config.repositories.include_forks,
        exclude_patterns=tuple(config.repositories.exclude),
        detection_platforms=tuple(config.detection.platforms),
        identity_offboarding_sla=config.identity.offboarding_sla,
        identity_count_guests=config.identity.count_guests,
        cloud_sla_days={s.value: d for s, d in config.cloud.sla.days.items()},
        cloud_sla_window=config.cloud.sla.window,
        cloud_scan_max_age=config.cloud.scan_max_age,
        cloud_iam_services=tuple(config.cloud.iam_services),
        cloud_frameworks=tuple(config.cloud.frameworks),
        scan_max_age=config.scans.max_age,
        dast_targets=tuple(config.scans.dast_targets),
    )


def valid_source_gauges(name: str, gauges: list[SourceGauge]) -> list[SourceGauge]:
    """Drop gauges a plugin may not publish (wrong prefix, core names, bad labels)."""
    kept = []
    for gauge in gauges:
        bad_name = (not gauge.name.startswith("devsecops_")
                    or gauge.name.startswith(RESERVED_PREFIXES))
        bad_label = any(k in ("collector", "quarter") for k, _ in gauge.labels)
        if bad_name or bad_label:
            log.warning("collector %s: ignoring gauge %s (reserved or unprefixed name or "
                        "label)", name, gauge.name)
            continue
        kept.append(gauge)
    return kept


def derive_from(store: Store, settings: DerivationSettings, now: datetime,
                history: Mapping[str, Mapping[MetricKey, float]],
                collectors: Sequence[str] | None = None) -> Derived:
    """Stream the stored records of ``collectors`` (all when ``None``) through derivation.

    Each family gets only the columns it declares, of its own kind, streamed in one
    pass (two families of one kind read it twice, each its own columns). Records of
    collectors the config no longer names stay in the store until ``store prune`` but
    are not published.
    """
    return derive_all(
        rows={family.name: store.iter_rows(family.kind, family.columns, collectors,
                                           dict(family.where))
              for family in FAMILIES},
        settings=settings, now=now, history=history,
    )


def configured_collectors(loaded: LoadedConfig) -> tuple[str, ...]:
    """Every collector the config names, enabled or not: the ones whose data is published."""
    return tuple(entry.name for entry in loaded.config.collectors)


def derive_from_store(store_path: str, settings: DerivationSettings, now: datetime,
                      history: Mapping[str, Mapping[MetricKey, float]],
                      collectors: Sequence[str] | None = None) -> Derived:
    """:func:`derive_from` on its own connection, for the derivation worker process.

    Module-level so the serving exporter can run it in a worker process: the
    derivation is CPU-bound Python, and in the serving process it would hold the
    GIL that scrape threads need (see benchmarks/RESULTS.md).
    """
    store = Store(store_path, migrate=False)
    try:
        return derive_from(store, settings, now, history, collectors)
    finally:
        store.close()


def collect_context(loaded: LoadedConfig, name: str, now: datetime,
                    state: dict[str, Any]) -> CollectContext:
    """The context of one run, with the history window the published quarters need."""
    return CollectContext(
        name=name, now=now, state=state,
        logger=logging.getLogger(f"devsecops_exporter.collector.{name}"),
        history_start=history_start(now, loaded.config.quarters.fiscal_year_start_month))


def _watch_parent(parent: int) -> None:
    """Derivation worker initializer: die with the serving process, even on SIGKILL.

    A spawned worker holds its own end of the task queue's pipe, so it never sees the
    parent go; without this, every SIGKILL of the exporter leaves it (and
    multiprocessing's resource tracker, which waits for it) running.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: Linux only
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    if os.getppid() != parent:
        os._exit(0)  # the parent died before the death signal was armed
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class Cancelled(Exception):
    """A run cancelled because the exporter is shutting down."""


def _run_collect(collector: Collector, ctx: CollectContext, timeout: float,
                 stats: RequestStats | None = None,
                 register: Callable[[asyncio.AbstractEventLoop, asyncio.Task[Any]], None]
                 | None = None) -> CollectionResult:
    """Run one collection with a timeout on a fresh event loop.

    The result is handed out through a holder rather than returned by the coroutine:
    on Python 3.11, ``asyncio.run`` of a coroutine returning a large object can build
    its ``repr`` while restoring the SIGINT handler, tripling peak memory. ``stats``
    collects the run's HTTP requests and retries across all the collector's clients,
    also when the run fails.
    """
    holder: list[CollectionResult] = []

    async def run() -> None:
        if stats is not None:
            run_request_stats.set(stats)
        if register is not None:
            task = asyncio.current_task()
            assert task is not None
            register(asyncio.get_running_loop(), task)
        holder.append(await asyncio.wait_for(collector.collect(ctx), timeout))

    try:
        asyncio.run(run())
    except asyncio.CancelledError:
        raise Cancelled(ctx.name) from None
    return holder[0]


@dataclass(frozen=True)
class Runtime:
    """Everything that a reload replaces as one unit."""

    loaded: LoadedConfig
    model: MaturityModel
    collectors: dict[str, tuple[CollectorEntry, Collector]]


def build_runtime(loaded: LoadedConfig) -> Runtime:
    """Instantiate collectors and the maturity model for a validated config."""
    try:
        model = load_model(loaded.config.maturity)
    except MaturityConfigError as exc:
        raise ConfigError(loaded.path, exc.problems) from None
    collectors = {}
    for entry in loaded.config.collectors:
        if entry.enabled:
            cls = load_collector_class(entry.type)
            collectors[entry.name] = (entry, cls(entry.name, loaded.collector_settings[entry.name]))
    return Runtime(loaded=loaded, model=model, collectors=collectors)


class Exporter:
    """Owns the store, the schedule and the current snapshot."""

    def __init__(self, loaded: LoadedConfig, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.clock = clock
        self.runtime = build_runtime(loaded)
        self.store = Store(loaded.config.store.path)
        self._warn_unconfigured(loaded)
        self.health = HealthBook()
        self.health.reload.last_success = time.time()
        self._configure_health()
        self._snapshot: Snapshot | None = None
        self._sequence = 0
        self._rebuild_lock = threading.Lock()
        self._runs_finished = threading.Event()
        # Collectors whose first run has not ended: on an empty store, ready waits for
        # every one of them (a partial snapshot would page on absent series) and for at
        # least one success (a snapshot of failures only reflects no data).
        self._first_run_pending = set(self.runtime.collectors)
        self._any_success = False
        self._scheduler: BackgroundScheduler | None = None
        self._active: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]] = {}
        self._active_lock = threading.Lock()
        self._stopping = False
        self._derive_pool: ProcessPoolExecutor | None = None

    def _warn_unconfigured(self, loaded: LoadedConfig) -> None:
        """Say loudly which stored collectors the config dropped; delete nothing."""
        parked = self.store.unconfigured_collectors(configured_collectors(loaded))
        for name, count in sorted(parked.items()):
            log.warning("collector %s is no longer in %s: its %d stored records are kept "
                        "but not published; add it back to publish them, or run "
                        "'devsecops-exporter store prune --config %s' to delete them",
                        name, loaded.path, count, loaded.path)

    # -- snapshot ---------------------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot | None:
        return self._snapshot

    @property
    def ready(self) -> bool:
        """Ready once a snapshot exists that reflects data: stored or freshly collected."""
        return self._snapshot is not None and self._runs_finished.is_set()

    def rebuild(self, *, rederive: bool = True) -> Snapshot:
        """Build a complete new snapshot and swap it in with one assignment."""
        with self._rebuild_lock:
            now = self.clock()
            previous = self._snapshot
            runtime = self.runtime
            if rederive or previous is None or previous.derived is None:
                derived, history = self._derive(runtime, now)
                assessment = with_recorded_reviews(
                    assess(derived, runtime.model, history, now), self.store)
                for quarter, values in assessment.history_values().items():
                    self.store.save_quarter_values(quarter, values, now)
            else:
                derived, assessment = previous.derived, previous.assessment
            self._sequence += 1
            families = merge_families([
                derived_families(derived),
                assessment.families(),  # type: ignore[union-attr]
                self.health.families(self.store.record_counts(), now.timestamp()),
            ])
            snapshot = Snapshot(created_at=now, families=families, derived=derived,
                                assessment=assessment, sequence=self._sequence)
            prerender(snapshot)
            self._snapshot = snapshot
            return snapshot

    def _derive(self, runtime: Runtime, now: datetime,
                ) -> tuple[Derived, dict[str, dict[MetricKey, float]]]:
        """Derive, keep the current quarter's point-in-time values, return both.

        The history returned is the stored one with those values applied, i.e. what
        the store now holds, so the assessment needs no second read.
        """
        self.store.check_identity()
        settings = derivation_settings(runtime.loaded)
        collectors = configured_collectors(runtime.loaded)
        history = self.store.quarter_values()
        derived = None
        if self._derive_pool is not None:
            try:
                derived = self._derive_pool.submit(
                    derive_from_store, self.store.path, settings, now, history,
                    collectors).result()
            except BrokenProcessPool:
                log.error("derivation worker died; deriving in-process from now on")
                self._derive_pool = None
        if derived is None:
            derived = derive_from(self.store, settings, now, history, collectors)
        current = point_in_time_values(derived)
        self.store.save_quarter_values(derived.current.label, current, now)
        history.setdefault(derived.current.label, {}).update(current)
        return derived, history

    # -- collection -------------------------------------------------------------------

    def _configure_health(self) -> None:
        self.health.configure(
            (name, entry.type, entry.schedule_interval.total_seconds(),
             self.store.collector_state(name).last_success)
            for name, (entry, _) in self.runtime.collectors.items()
        )

    def run_collector(self, name: str) -> bool:
        """One scheduled run: collect, commit, rebuild. Never raises."""
        runtime = self.runtime
        if name not in runtime.collectors:
            return False
        entry, collector = runtime.collectors[name]
        started = time.monotonic()
        now = self.clock()
        ctx = collect_context(runtime.loaded, name, now, self.store.collector_state(name).state)
        stats = RequestStats()
        try:
            try:
                result = _run_collect(collector, ctx, entry.timeout.total_seconds(), stats,
                                      lambda loop, task: self._track(name, loop, task))
            finally:
                self._untrack(name)
                self.health.record_http(name, stats)
            finished = self.clock()
            self.store.apply(name, result, finished)
        except CollectorError as exc:
            self._failed(name, started, exc.kind, str(exc))
            return False
        except StoreError as exc:
            self._failed(name, started, ErrorKind.STORE, str(exc))
            return False
        except Cancelled:
            log.warning("collector %s: run cancelled at shutdown; previous data kept", name)
            return False
        except TimeoutError:
            self._failed(name, started, ErrorKind.TIMEOUT,
                         f"run exceeded its timeout of {entry.timeout.total_seconds():.0f}s")
            return False
        except Exception:
            log.exception("collector %s: unexpected error; previous data kept", name)
            self._failed(name, started, ErrorKind.INTERNAL, None)
            return False
        duration = time.monotonic() - started
        self.health.record_success(name, finished.timestamp(), duration, result.record_errors,
                                   valid_source_gauges(name, result.gauges))
        counts = ", ".join(f"{len(rows)} {kind.value}" for kind, rows in
                           sorted(result.records.items(), key=lambda kv: kv[0].value)
                           if rows) or "no records"
        log.info("collector %s: ok in %.2fs (%s%s)", name, duration, counts,
                 f", {sum(result.record_errors.values())} records skipped"
                 if result.record_errors else "")
        return self._after_run(rederive=True, succeeded=True, name=name, started=started)

    def _failed(self, name: str, started: float, kind: ErrorKind, message: str | None) -> None:
        if message is not None:
            log.error("collector %s failed (%s): %s; previous data kept", name, kind.value,
                      message)
        self.health.record_failure(name, time.monotonic() - started, kind)
        self._first_run_pending.discard(name)
        self._after_run(rederive=False)

    def _after_run(self, *, rederive: bool, succeeded: bool = False, name: str | None = None,
                   started: float = 0.0) -> bool:
        """Rebuild; a success makes the exporter ready (a failure on an empty store does not).

        A rebuild that fails after a successful run (the store went away, the worker
        cannot read it) turns that run into a failure: it must reach the collector's
        health, not only the scheduler's log.
        """
        try:
            self.rebuild(rederive=rederive)
        except Exception as exc:
            kind = ErrorKind.STORE if isinstance(exc, StoreError) else ErrorKind.INTERNAL
            if kind is ErrorKind.STORE:
                log.error("rebuild failed (store): %s; the previous snapshot stays published",
                          exc)
            else:
                log.exception("rebuild failed; the previous snapshot stays published")
            if name is not None:
                self.health.record_failure(name, time.monotonic() - started, kind)
                try:
                    self.rebuild(rederive=False)  # publish the failure itself
                except Exception as again:
                    log.error("rebuild failed again (%s); the previous snapshot stays",
                              type(again).__name__)
            return False
        if succeeded:
            self._any_success = True
            if name is not None:
                self._first_run_pending.discard(name)
        if self._any_success and not self._first_run_pending:
            self._runs_finished.set()
        return True

    def collect_once(self) -> bool:
        """Run every collector once, in order; True if all succeeded."""
        results = [self.run_collector(name) for name in list(self.runtime.collectors)]
        if not results:
            self.rebuild()
            self._runs_finished.set()
        return all(results)

    # -- lifecycle --------------------------------------------------------------------

    def use_derivation_worker(self) -> None:
        """Derive in one spawned worker process (not forked: the parent has threads)."""
        if self._derive_pool is None and self.store.path != ":memory:":
            self._derive_pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                initializer=_watch_parent, initargs=(os.getpid(),))

    def _track(self, name: str, loop: asyncio.AbstractEventLoop,
               task: asyncio.Task[Any]) -> None:
        with self._active_lock:
            self._active[name] = (loop, task)
            stopping = self._stopping
        if stopping:
            loop.call_soon_threadsafe(task.cancel)

    def _untrack(self, name: str) -> None:
        with self._active_lock:
            self._active.pop(name, None)

    def cancel_runs(self) -> int:
        """Cancel every run in flight (each on its own loop); return how many."""
        with self._active_lock:
            self._stopping = True
            active = list(self._active.values())
        for loop, task in active:
            with contextlib.suppress(RuntimeError):  # that run's loop has just finished
                loop.call_soon_threadsafe(task.cancel)
        return len(active)

    def start(self, *, derive_in_worker: bool = True) -> None:
        """Publish what the store already has, then start the schedule.

        When serving, derivation runs in a worker process so that scrapes keep their
        latency during collections.
        """
        if derive_in_worker:
            self.use_derivation_worker()
        self.rebuild()
        configured = set(configured_collectors(self.runtime.loaded))
        if any(count for (name, _), count in self.store.record_counts().items()
               if name in configured) or not self.runtime.collectors:
            self._runs_finished.set()
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max(2, len(self.runtime.collectors)))},
            timezone=UTC,
        )
        self._schedule(self.runtime, run_now=set(self.runtime.collectors))
        self._scheduler.start()

    def _schedule(self, runtime: Runtime, run_now: set[str]) -> None:
        """(Re)create one job per collector; those in ``run_now`` run immediately."""
        assert self._scheduler is not None
        self._scheduler.remove_all_jobs()
        for name, (entry, _) in runtime.collectors.items():
            jitter = int(entry.jitter.total_seconds()) or None
            if entry.cron is not None:
                trigger = CronTrigger.from_crontab(entry.cron, timezone=UTC)
                trigger.jitter = jitter
            else:
                trigger = IntervalTrigger(seconds=entry.schedule_interval.total_seconds(),
                                          jitter=jitter, timezone=UTC)
            options = {"next_run_time": datetime.now(UTC)} if name in run_now else {}
            self._scheduler.add_job(
                self.run_collector, trigger, args=[name], id=name, name=f"collector {name}",
                max_instances=1, coalesce=True, misfire_grace_time=60, **options,
            )

    def reload(self, path: str | None = None) -> tuple[bool, str]:
        """Load the config again; on any problem keep the running one. Never raises."""
        old = self.runtime
        try:
            loaded = load_config(path or old.loaded.path)
            if loaded.config.store.path != old.loaded.config.store.path:
                raise ConfigError(loaded.path, ["store.path cannot change on reload; restart"])
            runtime = build_runtime(loaded)
        except ConfigError as exc:
            self.health.reload.successful = False
            log.error("reload rejected, previous configuration kept: %s", exc)
            self.rebuild(rederive=False)
            return False, str(exc)
        if loaded.config.web != old.loaded.config.web:
            log.warning("web settings changed; they take effect after a restart")
        self.runtime = runtime
        self._first_run_pending &= set(runtime.collectors)  # a removed one never runs
        self._configure_health()
        self._warn_unconfigured(loaded)
        self.health.reload.successful = True
        self.health.reload.last_success = time.time()
        if self._scheduler is not None:
            # New or changed collectors run at once; unchanged ones keep their rhythm.
            changed = {name for name, (entry, _) in runtime.collectors.items()
                       if name not in old.collectors
                       or old.collectors[name][0] != entry
                       or old.loaded.collector_settings.get(name)
                       != loaded.collector_settings.get(name)}
            self._schedule(runtime, run_now=changed)
        self.rebuild()
        log.info("configuration reloaded from %s", loaded.path)
        return True, "configuration reloaded"

    def stop(self, timeout: float = 10.0) -> bool:
        """Cancel runs in flight, stop the schedule and the worker; False if it took too long.

        A run waiting on a server that never answers is cancelled, not waited for: a
        SIGTERM ends the process within seconds, whatever the collectors' timeouts.
        """
        clean = True
        if self._scheduler is not None:
            scheduler, self._scheduler = self._scheduler, None
            cancelled = self.cancel_runs()
            if cancelled:
                log.info("cancelling %d collector run(s) in flight", cancelled)
            done = threading.Thread(target=scheduler.shutdown, kwargs={"wait": True},
                                    name="scheduler-shutdown", daemon=True)
            done.start()
            done.join(timeout)
            clean = not done.is_alive()
        if self._derive_pool is not None:
            self._derive_pool.shutdown(wait=clean, cancel_futures=True)
            self._derive_pool = None
        self.store.close()
        return clean
