"""`gateway serve | validate | routes | explain`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

from gateway.config.compiler import compile_config
from gateway.config.extras import missing_extras
from gateway.config.issues import ConfigError
from gateway.config.serving import refusals
from gateway.observe.logstore.service import DEFAULT_STORE
from gateway.policy.state.sqlite import default_path
from gateway.policy.state.store import display_url

CONFIG_ENV = "GATEWAY_CONFIG"
WATCH_ENV = "GATEWAY_WATCH"
STATE_ENV = "GATEWAY_STATE_STORE"  # the workers' shared store when the config names none
METRICS_ENV = "GATEWAY_METRICS_DIR"  # where the workers publish their counts for /metrics
RELOADS_ENV = "GATEWAY_RELOADS_FILE"  # where a worker asked to reload tells the others
EXPOSED_ENV = "GATEWAY_EXPOSED_HOST"  # the non-loopback address served on, when open gateways are refused


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gateway", description="A declarative AI gateway.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve a config (file or folder)")
    serve.add_argument("--config", default="routes", help="config file or folder (default: routes/)")
    serve.add_argument("--host", help="overrides server.listen")
    serve.add_argument("--port", type=int, help="overrides server.listen")
    serve.add_argument("--workers", type=int, help="processes (overrides server.workers)")
    serve.add_argument("--no-watch", action="store_true", help="reload only on SIGHUP or POST /api/reload")
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="serve gateways with `auth: none` on a non-loopback address (something else authenticates)",
    )

    validate = sub.add_parser("validate", help="check config files; exit 1 on errors")
    validate.add_argument("paths", nargs="+", help="config files or folders")

    routes = sub.add_parser("routes", help="print the compiled routing table (secrets masked)")
    routes.add_argument("--config", default="routes")

    explain = sub.add_parser(
        "explain", help="show which branch a request would take and why (no upstream call)"
    )
    explain.add_argument("--config", default="routes")
    explain.add_argument("--model", required=True, help="the model name a client would send")
    explain.add_argument("--gateway", default="default")
    explain.add_argument("--metadata", default="{}", help="request metadata, a JSON object")
    explain.add_argument("--header", action="append", default=[], help="'Name: value' (repeatable)")
    explain.add_argument("--token", help="the gateway token's name (its metadata is merged)")
    explain.add_argument("--stream", action="store_true")
    explain.add_argument("--tools", action="store_true", help="the request has tools")
    explain.add_argument("--images", action="store_true", help="the request has images")
    explain.add_argument("--input-tokens", type=int, default=0, help="estimated input tokens")

    args = parser.parse_args(argv)
    if args.command == "explain":
        return cmd_explain(args)
    if args.command == "validate":
        return cmd_validate(args.paths)
    if args.command == "routes":
        return cmd_routes(args.config)
    return cmd_serve(args)


def cmd_validate(paths: list[str]) -> int:
    failed = False
    for path in paths:
        try:
            table = compile_config(path, strict_env=False)
        except ConfigError as exc:
            for issue in exc.issues:
                print(issue)
            failed = failed or bool(exc.errors)
            continue
        for warning in table.warnings:
            print(warning)
        for missing in missing_extras(table):  # a warning here: this machine may not be the one serving
            print(f"{missing.location or path}: warning: {missing.message}")
        print(f"{path}: ok (version {table.version})", file=sys.stderr)
    return 1 if failed else 0


def cmd_routes(config: str) -> int:
    from gateway.admin.describe import describe

    try:
        table = compile_config(config, strict_env=False)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return 1
    print(yaml.safe_dump(describe(table), sort_keys=False, width=120), end="")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from gateway.routing.plan import Unresolved, explain, make_facts

    try:
        table = compile_config(args.config, strict_env=False)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return 1
    try:
        metadata = json.loads(args.metadata)
    except ValueError as exc:
        print(f"gateway explain: --metadata is not JSON: {exc}", file=sys.stderr)
        return 2
    if not isinstance(metadata, dict):
        print("gateway explain: --metadata must be a JSON object", file=sys.stderr)
        return 2
    headers: dict[str, str] = {}
    for header in args.header:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            print(f"gateway explain: --header {header!r} is not 'Name: value'", file=sys.stderr)
            return 2
        headers[name.strip().lower()] = value.strip()
    facts = make_facts(
        table,
        args.gateway,
        args.model,
        metadata=metadata,
        headers=headers,
        token=args.token,
        stream=args.stream,
        has_tools=args.tools,
        has_images=args.images,
        input_tokens=args.input_tokens,
    )
    try:
        lines = explain(table, args.gateway, args.model, facts)
    except Unresolved as exc:
        for line in exc.lines:
            print(line)
        print(f"does not resolve: {exc.message}")
        return 1
    for line in lines:
        print(line)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        table = compile_config(args.config)
    except ConfigError as exc:
        print(f"gateway: refusing to start, the config at {args.config} has errors:", file=sys.stderr)
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return 1
    for warning in table.warnings:
        print(warning, file=sys.stderr)
    workers = args.workers or table.server.workers
    host = args.host or table.server.host
    port = args.port or table.server.port
    # Not given, nothing is refused for being open; given, a reload to `auth: none` is refused too.
    exposed = None if args.allow_unauthenticated else host
    refused = refusals(table, args.config, workers, exposed_host=exposed)
    if refused:
        # Stopping now beats an ImportError on the first request that needs a missing library, or an
        # open relay for the stored keys.
        print(f"gateway: refusing to start {workers} worker(s) on {args.config}:", file=sys.stderr)
        for issue in refused:
            print(issue, file=sys.stderr)
        return 1
    print(
        f"gateway: serving {args.config} (version {table.version}) on http://{host}:{port} "
        f"with {workers} worker(s)",
        file=sys.stderr,
    )
    options = dict(
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=args.log_level,
        timeout_graceful_shutdown=int(table.server.drain),
        server_header=False,
    )
    if workers > 1:
        # This run's own directory (fresh each serve, removed at exit): the workers' metric snapshots,
        # and the state store when neither the config nor an SQLite log gives it a place.
        run_dir = tempfile.mkdtemp(prefix="gateway-run-")
        metrics_dir = os.path.join(run_dir, "metrics")
        os.mkdir(metrics_dir)
        store = table.state.store
        if store is None:
            path = default_path(table.logs.store or DEFAULT_STORE, run_dir)
            store = f"sqlite:///{path}"
        print(f"gateway: the workers share state in {display_url(store)}", file=sys.stderr)
        # Each worker compiles and watches the config itself; uvicorn imports the factory by name.
        os.environ[CONFIG_ENV] = str(Path(args.config).resolve())
        os.environ[WATCH_ENV] = "0" if args.no_watch else "1"
        os.environ[STATE_ENV] = store
        os.environ[METRICS_ENV] = metrics_dir
        os.environ[RELOADS_ENV] = os.path.join(run_dir, "reloads")
        if exposed is not None:
            os.environ[EXPOSED_ENV] = exposed
        try:
            uvicorn.run("gateway.cli:app_from_env", factory=True, workers=workers, **options)
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
    else:
        from gateway.app import create_app

        app = create_app(args.config, watch=not args.no_watch, tune_gc=True, exposed_host=exposed)
        uvicorn.run(app, **options)
    return 0


def app_from_env() -> object:
    from gateway.app import create_app

    return create_app(
        os.environ[CONFIG_ENV],
        watch=os.environ.get(WATCH_ENV) != "0",
        tune_gc=True,
        state_store=os.environ.get(STATE_ENV, "memory"),
        metrics_dir=os.environ.get(METRICS_ENV),
        reloads_file=os.environ.get(RELOADS_ENV),
        exposed_host=os.environ.get(EXPOSED_ENV),
    )


if __name__ == "__main__":
    sys.exit(main())
