"""Command line: ``serve``, ``collect --once``, ``check-config``, ``explain``.

Exit codes: 0 success; 1 a collection or check failed; 2 invalid configuration or
usage (the Prometheus tools' convention).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import tempfile
import threading
from datetime import datetime, timedelta
from pathlib import Path

from collectors.redact import install_log_redaction, redact
from exporter import __version__
from exporter.config import ConfigError, LoadedConfig, load_config, parse_listen_address
from exporter.webconfig import duration_seconds, positive_int

DEFAULT_CONFIG = os.environ.get("DEVSECOPS_CONFIG", "config.yaml")
log = logging.getLogger("devsecops_exporter")


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # httpx logs request lines, httpcore full response headers at debug level (echoed
    # credentials, Set-Cookie): neither follows --log.level down.
    for noisy in ("httpx", "httpcore", "hpack"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    install_log_redaction()


def _load(path: str) -> LoadedConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _build_exporter(loaded: LoadedConfig):
    from exporter.app import Exporter
    from exporter.store import StoreError

    try:
        return Exporter(loaded)
    except (ConfigError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_serve(args: argparse.Namespace) -> int:
    from exporter.server import ExporterServer

    loaded = _load(args.config)
    _setup_logging(args.log_level or loaded.config.log_level)
    address = args.listen_address or loaded.config.web.listen_address
    try:
        host, port = parse_listen_address(address)
    except ValueError as exc:
        print(f"error: --web.listen-address: {exc}", file=sys.stderr)
        return 2
    from exporter.server import ServerLimits
    from exporter.webconfig import WebConfigError, WebConfigWatcher

    try:
        web = WebConfigWatcher(args.web_config_file)
    except WebConfigError as exc:
        print(f"error: --web.config.file: {exc}", file=sys.stderr)
        return 2
    exporter = _build_exporter(loaded)
    limits = ServerLimits(max_connections=args.web_max_connections,
                          header_timeout=args.web_header_timeout,
                          idle_timeout=args.web_idle_timeout)
    try:
        server = ExporterServer((host, port), exporter, loaded.config.web.telemetry_path,
                                web_config=web, limits=limits,
                                enable_lifecycle=args.web_enable_lifecycle)
    except OSError as exc:
        print(f"error: cannot listen on {address}: {exc.strerror}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_hup(signum: int, frame: object) -> None:
        # Through the server, so a SIGHUP and concurrent POSTs share one reload.
        threading.Thread(target=server.reload, name="reload", daemon=True).start()

    def on_term(signum: int, frame: object) -> None:
        if stop.is_set():  # a second signal: the operator wants out now
            os._exit(1)
        stop.set()

    # Scrape threads need the GIL only briefly, but a derivation holds it in 5 ms
    # slices by default; a shorter switch interval keeps scrape latency low during
    # collections at a negligible cost in throughput (see benchmarks/RESULTS.md).
    sys.setswitchinterval(0.001)
    signal.signal(signal.SIGHUP, on_hup)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    exporter.start()
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    log.info("devsecops-maturity-exporter %s listening on %s (metrics at %s)", __version__,
             address, loaded.config.web.telemetry_path)
    stop.wait()
    log.info("shutting down")
    server.shutdown()
    server.server_close()
    if not exporter.stop(timeout=10.0):
        log.error("a collector run did not end within 10s of being cancelled; exiting anyway")
        return 1
    log.info("stopped")
    return 0


def _write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cmd_collect(args: argparse.Namespace) -> int:
    from exporter.publish import render

    if not args.once:
        print("error: collect needs --once (use 'serve' to collect on a schedule)",
              file=sys.stderr)
        return 2
    loaded = _load(args.config)
    _setup_logging(args.log_level or loaded.config.log_level)
    exporter = _build_exporter(loaded)
    try:
        ok = exporter.collect_once()
        snapshot = exporter.snapshot
        assert snapshot is not None
        body = render(snapshot, openmetrics_format=False, compress=False)
    finally:
        exporter.stop()
    if args.output:
        _write_atomically(Path(args.output), body)
    else:
        sys.stdout.buffer.write(body)
    return 0 if ok else 1


def lookback_notes(loaded: LoadedConfig, at: datetime) -> list[str]:
    """Say where a configured lookback is shorter than the two published quarters.

    Such a lookback is not an error (full passes reach back to the previous quarter's
    start anyway, see CollectContext.window_start), but an operator who set it to
    bound the load should know it does not.
    """
    from exporter.app import collect_context

    notes = []
    for entry in loaded.config.collectors:
        lookback = getattr(loaded.collector_settings.get(entry.name), "lookback", None)
        if not isinstance(lookback, timedelta):
            continue
        ctx = collect_context(loaded, entry.name, at, {})
        if ctx.history_start is not None and at - lookback > ctx.history_start:
            notes.append(
                f"collectors[{entry.name}].lookback {lookback.days}d is shorter than the two "
                f"published quarters; first and full passes read back to "
                f"{ctx.history_start.date().isoformat()} (the previous quarter's start less "
                "14 days) anyway")
    return notes


def cmd_check_config(args: argparse.Namespace) -> int:
    from exporter.app import build_runtime, collect_context
    from exporter.app import utcnow as now

    loaded = _load(args.config)
    try:
        runtime = build_runtime(loaded)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    names = ", ".join(runtime.collectors) or "none"
    print(f"{loaded.path}: configuration is valid (collectors: {names})")
    for note in lookback_notes(loaded, now()):
        print(f"note: {note}", file=sys.stderr)
    if not args.online:
        return 0
    _setup_logging("warning")
    from collectors.base import CollectorError

    failed = False
    for name, (_, collector) in runtime.collectors.items():
        ctx = collect_context(loaded, name, now(), {})
        try:
            problems = asyncio.run(collector.check(ctx))
        except CollectorError as exc:
            problems = [f"{exc.kind.value}: {exc}"]
        for problem in problems:
            print(f"{name}: {redact(problem)}", file=sys.stderr)
        failed = failed or bool(problems)
        if not problems:
            print(f"{name}: online check passed")
    return 1 if failed else 0


def cmd_explain(args: argparse.Namespace) -> int:
    from exporter import assess

    explain_text = getattr(assess, "explain_text", None)
    if explain_text is None:
        print("error: this build has no maturity explanation", file=sys.stderr)
        return 1
    loaded = _load(args.config)
    _setup_logging(args.log_level or "warning")
    exporter = _build_exporter(loaded)
    try:
        if args.collect:
            exporter.collect_once()
        snapshot = exporter.rebuild() if not args.collect else exporter.snapshot
    finally:
        exporter.stop()
    try:
        print(explain_text(snapshot.assessment, args.domain))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_store_prune(args: argparse.Namespace) -> int:
    """Delete the stored records and state of collectors the config no longer names.

    The exporter never does this by itself: a config cut short must not cost the data.
    """
    from exporter.store import Store, StoreError

    loaded = _load(args.config)
    configured = [entry.name for entry in loaded.config.collectors]
    try:
        store = Store(loaded.config.store.path)
        try:
            found = (store.unconfigured_collectors(configured) if args.dry_run
                     else store.prune_collectors(configured))
        finally:
            store.close()
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not found:
        print(f"{loaded.config.store.path}: nothing to prune (every stored collector is "
              "in the config)")
        return 0
    verb = "would delete" if args.dry_run else "deleted"
    for name, count in sorted(found.items()):
        print(f"{verb} collector {name}: {count} records and its incremental state")
    return 0


def _assessed(loaded: LoadedConfig):
    """Exporter, snapshot and model from the stored data (no collection, no API)."""
    exporter = _build_exporter(loaded)
    try:
        snapshot = exporter.rebuild()
    except BaseException:
        exporter.stop()
        raise
    return exporter, snapshot, exporter.runtime.model


def cmd_review_record(args: argparse.Namespace) -> int:
    """Freeze the current quarter's assessment as a recorded review (docs/report.md)."""
    from exporter.review import ReviewExists, record_review, review_content, review_problems

    loaded = _load(args.config)
    _setup_logging(args.log_level or "warning")
    exporter, snapshot, model = _assessed(loaded)
    try:
        assessment = snapshot.assessment
        problems = review_problems(model)
        if problems:
            for problem in problems:
                print(f"error: cannot record the review: {problem}", file=sys.stderr)
            return 2
        if args.quarter and args.quarter != assessment.current_quarter:
            print(f"error: --quarter {args.quarter}: only the current quarter "
                  f"({assessment.current_quarter}) can be recorded: its criteria are the ones "
                  "evaluated now", file=sys.stderr)
            return 2
        content = review_content(assessment, model, snapshot.derived, notes=args.notes,
                                 recorded_at=exporter.clock())
        try:
            record = record_review(exporter.store, content, supersede=args.supersede)
        except ReviewExists as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    finally:
        exporter.stop()
    levels = ", ".join(f"{d} {e['level']}" for d, e in content["domains"].items())
    print(f"recorded review #{record.id} of {record.quarter}: {levels}")
    return 0


def cmd_review_list(args: argparse.Namespace) -> int:
    from exporter.review import list_reviews, list_text
    from exporter.store import Store, StoreError

    loaded = _load(args.config)
    try:
        store = Store(loaded.config.store.path)
        try:
            print(list_text(list_reviews(store)))
        finally:
            store.close()
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_review_show(args: argparse.Namespace) -> int:
    import json

    from exporter.review import quarter_records, show_text
    from exporter.store import Store, StoreError

    loaded = _load(args.config)
    try:
        store = Store(loaded.config.store.path)
        try:
            records = quarter_records(store, args.quarter)
        finally:
            store.close()
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    current = [r for r in records if r.current]
    if not current:
        print(f"error: no review of {args.quarter} is recorded (see: review list)",
              file=sys.stderr)
        return 2
    earlier = [r for r in records if not r.current]
    if args.json:
        print(json.dumps({"id": current[0].id, "content": current[0].content,
                          "superseded": [{"id": r.id, "content": r.content} for r in earlier]},
                         indent=2, ensure_ascii=False))
    else:
        print(show_text(current[0], earlier))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write the quarterly report from the store and the recorded reviews."""
    from exporter.report import PdfError, gather, render
    from exporter.report.exports import audit_csv
    from exporter.review import get_review, review_content, with_recorded_reviews

    loaded = _load(args.config)
    _setup_logging(args.log_level or "warning")
    if args.format == "pdf" and not args.output:
        print("error: --format pdf needs --output FILE", file=sys.stderr)
        return 2
    exporter, snapshot, model = _assessed(loaded)
    try:
        assessment = with_recorded_reviews(snapshot.assessment, exporter.store)
        quarter = args.quarter or assessment.current_quarter
        record = get_review(exporter.store, quarter)
        if record is not None and not args.live:
            content = record.content
            facts = gather(exporter.store, content,
                           recorded={"id": record.id, "recorded_at": content["recorded_at"]})
        elif quarter == assessment.current_quarter:
            content = review_content(assessment, model, snapshot.derived, notes=None,
                                     recorded_at=exporter.clock())
            facts = gather(exporter.store, content)
        else:
            print(f"error: --quarter {quarter}: no review of that quarter is recorded, and "
                  f"only the current quarter ({assessment.current_quarter}) can be computed "
                  "from the data (see: review list)", file=sys.stderr)
            return 2
    finally:
        exporter.stop()
    try:
        if args.format == "audit-csv":  # from the content: it names evidence reviewers
            body = audit_csv(content).encode("utf-8")
        else:
            body = render(facts, args.format, team=args.dsomm_team, paper=args.paper)
    except PdfError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.output:
        _write_atomically(Path(args.output), body)
    else:
        sys.stdout.buffer.write(body)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="devsecops-exporter",
        description="Prometheus exporter for DevSecOps outcome metrics and maturity levels.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--config", default=DEFAULT_CONFIG,
                         help=f"configuration file (default: {DEFAULT_CONFIG}; "
                              "env DEVSECOPS_CONFIG)")
        return sub

    serve = add("serve", "Collect on schedule and serve /metrics.")
    serve.add_argument("--web.listen-address", dest="listen_address", default=None,
                       help="HOST:PORT to listen on (overrides web.listen_address)")
    serve.add_argument("--web.config.file", dest="web_config_file", default=None,
                       metavar="FILE",
                       help="TLS, client certificate and basic auth settings (the Prometheus "
                            "exporter-toolkit web configuration format)")
    serve.add_argument("--web.enable-lifecycle", dest="web_enable_lifecycle",
                       action=argparse.BooleanOptionalAction, default=True,
                       help="serve POST /-/reload (default: on; SIGHUP works either way)")
    serve.add_argument("--web.max-connections", dest="web_max_connections",
                       type=positive_int, default=64, metavar="N",
                       help="connections served at once (default: 64)")
    serve.add_argument("--web.header-timeout", dest="web_header_timeout",
                       type=duration_seconds, default=10.0, metavar="DURATION",
                       help="time for a request's headers and body to arrive (default: 10s)")
    serve.add_argument("--web.idle-timeout", dest="web_idle_timeout",
                       type=duration_seconds, default=30.0, metavar="DURATION",
                       help="close a keep-alive connection idle this long (default: 30s)")
    serve.add_argument("--log.level", dest="log_level", default=None,
                       choices=["debug", "info", "warning", "error"])
    serve.set_defaults(func=cmd_serve)

    collect = add("collect", "Run every collector once and write the metrics exposition "
                             "(for node_exporter's textfile directory or cron).")
    collect.add_argument("--once", action="store_true", help="run once and exit (required)")
    collect.add_argument("--output", help="file to write atomically (default: stdout)")
    collect.add_argument("--log.level", dest="log_level", default=None,
                         choices=["debug", "info", "warning", "error"])
    collect.set_defaults(func=cmd_collect)

    check = add("check-config", "Validate the configuration and exit (0 valid, 2 invalid).")
    check.add_argument("--online", action="store_true",
                       help="also ask each source to validate credentials and queries")
    check.set_defaults(func=cmd_check_config)

    explain = add("explain", "Explain each domain's level and what blocks the next one.")
    explain.add_argument("--domain", help="only this domain")
    explain.add_argument("--collect", action="store_true",
                         help="collect first instead of using the stored data")
    explain.add_argument("--log.level", dest="log_level", default=None,
                         choices=["debug", "info", "warning", "error"])
    explain.set_defaults(func=cmd_explain)

    store = commands.add_parser("store", help="Maintain the store.",
                                description="Maintain the store.")
    store_commands = store.add_subparsers(dest="store_command", required=True,
                                          metavar="STORE_COMMAND")
    prune = store_commands.add_parser(
        "prune", help="Delete records of collectors no longer in the config.",
        description="Delete the records and incremental state of every stored collector "
                    "the configuration no longer names. The exporter keeps them (unpublished) "
                    "until this runs.")
    prune.add_argument("--config", default=DEFAULT_CONFIG,
                       help=f"configuration file (default: {DEFAULT_CONFIG}; "
                            "env DEVSECOPS_CONFIG)")
    prune.add_argument("--dry-run", action="store_true", help="only list what would go")
    prune.set_defaults(func=cmd_store_prune)

    review = commands.add_parser("review", help="Record and read quarterly reviews.",
                                 description="Record and read quarterly maturity reviews.")
    review_commands = review.add_subparsers(dest="review_command", required=True,
                                            metavar="REVIEW_COMMAND")

    def review_sub(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = review_commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--config", default=DEFAULT_CONFIG,
                         help=f"configuration file (default: {DEFAULT_CONFIG}; "
                              "env DEVSECOPS_CONFIG)")
        return sub

    record = review_sub("record", "Freeze the current quarter's levels, criteria, evidence, "
                                  "owners and next actions as a completed review.")
    record.add_argument("--quarter", help="the quarter reviewed (must be the current one)")
    record.add_argument("--notes", help="notes of the review meeting")
    record.add_argument("--supersede", action="store_true",
                        help="record a quarter again (the earlier record stays readable)")
    record.add_argument("--log.level", dest="log_level", default=None,
                        choices=["debug", "info", "warning", "error"])
    record.set_defaults(func=cmd_review_record)
    review_sub("list", "List recorded reviews.").set_defaults(func=cmd_review_list)
    show = review_sub("show", "Print a recorded review's frozen content.")
    show.add_argument("quarter", metavar="QUARTER", help="e.g. 2026-Q4")
    show.add_argument("--json", action="store_true", help="print the content as JSON")
    show.set_defaults(func=cmd_review_show)

    report = add("report", "Write the quarterly maturity report (from the store, never an API).")
    report.add_argument("--format", default="html",
                        choices=["html", "markdown", "md", "text", "pdf", "json", "backlog-csv",
                                 "backlog-json", "audit-csv", "dsomm"],
                        help="html (default, self-contained), markdown, text (plain), "
                             "pdf (headless Chromium), json (the facts), backlog-csv (Jira), "
                             "backlog-json, "
                             "audit-csv (every criterion with its evidence), dsomm (OWASP "
                             "DSOMM team-progress.yaml)")
    report.add_argument("--output", help="file to write atomically (default: stdout)")
    report.add_argument("--paper", default="a4", choices=["a4", "letter"],
                        help="page size the HTML prints to and the PDF uses (default: a4)")
    report.add_argument("--quarter", help="report a recorded quarter (default: the current one)")
    report.add_argument("--live", action="store_true",
                        help="use the current data even when the quarter's review is recorded")
    report.add_argument("--dsomm-team", default="Default",
                        help="DSOMM team name for --format dsomm (default: Default)")
    report.add_argument("--log.level", dest="log_level", default=None,
                        choices=["debug", "info", "warning", "error"])
    report.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
