"""The `exchange` command: one entry point for operators, developers and CI.

Each subcommand imports what it needs only when it runs, so `exchange infra status` does not
pay for loading Faust, and the engine benchmark is not disturbed by unrelated modules.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from exchange.config import ConfigError, Settings


def _infra(args: argparse.Namespace) -> int:
    from infra.local import runner
    from infra.local.toolchain import ToolchainError

    settings = Settings.from_env()
    try:
        if args.action == "up":
            settings = runner.up(settings, fast_unsafe=args.fast_unsafe, brokers=args.brokers,
                                 cassandra_nodes=args.cassandra_nodes)
            return 0 if runner.status(settings) else 1
        if args.brokers or args.cassandra_nodes:
            raise CommandError("--brokers and --cassandra-nodes go with `infra up`; the other actions "
                               "find the layout `up` remembered in the state directory")
        if args.action == "down":
            runner.down(settings)
            return 0
        return 0 if runner.status(settings) else 1
    except ToolchainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _worker(args: argparse.Namespace) -> int:
    from streams.run import run

    return run(args)


def _recorder(args: argparse.Namespace) -> int:
    from streams.run import run

    return run(args, read_side=True)


def _up(args: argparse.Namespace) -> int:
    from exchange.up import up

    return up(args.workers, demo=not args.without_demo, tls=args.tls)


def _setup(args: argparse.Namespace) -> int:
    from exchange.up import setup

    setup(Settings.from_env(), demo_markets=args.demo_markets)
    return 0


def _ws(args: argparse.Namespace) -> int:
    from ws.app import run

    return run(port=args.port)


def _api(args: argparse.Namespace) -> int:
    from api.app import run

    return run(port=args.port)


def _demo(args: argparse.Namespace) -> int:
    from exchange.demo_bot import run

    return run(args)


def _mail_catcher(args: argparse.Namespace) -> int:
    from exchange import mail_catcher

    return mail_catcher.serve(args.dir, args.host, args.port)


def _report(args: argparse.Namespace) -> int:
    """`exchange report`: an unreachable Kafka or Cassandra is one error line."""
    from aiokafka.errors import KafkaError
    from cassandra.cluster import NoHostAvailable

    from exchange import reports
    from exchange.kafka_io import read_compacted
    from schemas.topics import ASSETS, MARKETS

    settings = Settings.from_env()
    try:
        asset_defs = asyncio.run(read_compacted(settings, ASSETS))
        market_defs = asyncio.run(read_compacted(settings, MARKETS))
    except KafkaError as exc:
        raise CommandError(f"Kafka at {settings.kafka_bootstrap}: {exc}") from exc
    try:
        if args.which == "markets":
            day = args.day or time.strftime("%Y-%m-%d", time.gmtime())
            return reports.run_markets(settings, day, args.csv, market_defs, asset_defs, args.by == "hour")
        return reports.run(settings, args.asset, args.csv, asset_defs, from_reports=args.which == "assets")
    except NoHostAvailable as exc:
        raise CommandError(f"Cassandra at {', '.join(settings.cassandra_hosts)}: {exc}") from exc


def _user_role(args: argparse.Namespace) -> int:
    from exchange import db

    settings = Settings.from_env()
    connection = db.cluster(settings)
    try:
        session = connection.connect(settings.cassandra_keyspace)
        email = args.email.lower()
        row = session.execute("SELECT account FROM users_by_email WHERE email = %s", (email,)).one()
        if row is None:
            raise CommandError(f"no user with email {email}")
        session.execute("UPDATE users_by_email SET role = %s WHERE email = %s", (args.action, email))
        session.execute("UPDATE users_by_account SET role = %s WHERE account = %s", (args.action, row.account))
        print(f"{email} (account {row.account}) is now {args.action}; it applies from their next login")
    finally:
        connection.shutdown()
    return 0


def _logs(args: argparse.Namespace) -> int:
    from exchange import log_view

    directory = args.dir or Settings.from_env().state_dir / "logs"
    if not directory.is_dir():
        raise CommandError(f"no logs at {directory} (`exchange up` writes them there; --dir names another place)")
    ids = {kind: str(value) for kind in log_view.ID_FIELDS if (value := getattr(args, kind)) is not None}
    wanted = log_view.Filter(ids, args.level, log_view.since(args.since) if args.since else "")
    try:
        log_view.show(directory, wanted, as_json=args.json, follow=args.follow)
    except KeyboardInterrupt:
        pass
    return 0


def _db(args: argparse.Namespace) -> int:
    from exchange import db

    settings = Settings.from_env()
    try:
        connection = db.cluster(settings)
        session = connection.connect()
    except Exception as exc:  # the driver's NoHostAvailable and friends
        hosts = ", ".join(settings.cassandra_hosts)
        raise CommandError(f"Cassandra at {hosts} (port {settings.cassandra_port}): {exc}") from exc
    try:
        for name in db.migrate(session, settings):
            print(f"applied {name} to keyspace {settings.cassandra_keyspace}")
    finally:
        connection.shutdown()
    return 0


def _partitions(args: argparse.Namespace) -> int:
    from aiokafka.errors import KafkaError

    from exchange.partitions import GrowError, grow

    settings = Settings.from_env()
    try:
        asyncio.run(grow(settings, args.to, clear_local_state=args.clear_local_state))
    except GrowError as exc:
        raise CommandError(str(exc)) from exc
    except KafkaError as exc:
        raise CommandError(f"Kafka at {settings.kafka_bootstrap}: {exc}") from exc
    return 0


def _bench(args: argparse.Namespace) -> int:
    if args.which == "gen-ops":
        from bench import gen_ops as module
    elif args.which == "matching":
        from bench import matching as module
    elif args.which == "recorder":
        from bench import recorder as module
    elif args.which == "api":
        from bench import api as module
    elif args.which == "ws":
        from bench import ws as module
    elif args.which == "stages":
        from bench import stages as module
    elif args.which == "scale":
        from bench import scale as module
    elif args.which == "reads":
        from bench import reads as module
    else:
        from bench import pipeline as module
    return module.main(args.rest)


class CommandError(Exception):
    """The operator asked for something that cannot be done; the message says why."""


def _catalogue(args: argparse.Namespace) -> int:
    """Run one `topics`/`asset`/`market` action: bad input or an unreachable Kafka is one error line."""
    from aiokafka.errors import KafkaError

    from exchange.kafka_io import TopicError
    from exchange.reference import DefinitionError

    settings = Settings.from_env()
    try:
        code = asyncio.run(args.act(settings, args))
    except (DefinitionError, TopicError) as exc:
        raise CommandError(str(exc)) from exc
    except KafkaError as exc:
        raise CommandError(f"Kafka at {settings.kafka_bootstrap}: {exc}") from exc
    return code or 0


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _print_table(header: tuple[str, ...], rows: list[tuple]) -> None:
    lines = [header, *[tuple(str(cell) for cell in row) for row in rows]]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())


async def _create_topics(settings: Settings, args: argparse.Namespace) -> None:
    from exchange.kafka_io import ensure_topics

    created = await ensure_topics(settings)
    for name in created:
        print(f"created {name}")
    if not created:
        print("all topics exist")


async def _list_topics(settings: Settings, args: argparse.Namespace) -> int:
    from exchange.kafka_io import topic_health

    health = await topic_health(settings)
    _print_table(("topic", "partitions", "replication", "min.insync", "under-replicated", "offline"),
                 [(t.name, t.partitions, t.replication, t.min_insync, t.under_replicated, t.offline)
                  for t in health])
    troubled = [t for t in health if t.under_replicated or t.offline]
    if troubled:
        print(f"{len(troubled)} topic(s) with under-replicated or offline partitions", file=sys.stderr)
        return 1
    return 0


async def _replicate_topics(settings: Settings, args: argparse.Namespace) -> int:
    from exchange.kafka_io import replicate

    for line in await replicate(settings):
        print(line)
    return await _list_topics(settings, args)


async def _create_asset(settings: Settings, args: argparse.Namespace) -> None:
    from exchange import kafka_io, reference
    from schemas.topics import ASSETS

    asset = reference.make_asset(args.symbol, args.decimals, _now_ms())
    await kafka_io.ensure_topics(settings)
    existing = (await kafka_io.read_compacted(settings, ASSETS)).get(args.symbol)
    if existing is None:
        await kafka_io.publish(settings, ASSETS, args.symbol, asset)
        print(f"created asset {args.symbol} ({args.decimals} decimals)")
    elif existing["decimals"] == args.decimals:
        print(f"asset {args.symbol} exists already")
    else:
        raise CommandError(f"asset {args.symbol} exists with {existing['decimals']} decimals; "
                           "decimals are fixed once created")


async def _list_assets(settings: Settings, args: argparse.Namespace) -> None:
    from exchange import kafka_io
    from schemas.topics import ASSETS

    assets = await kafka_io.read_compacted(settings, ASSETS)
    _print_table(("symbol", "decimals"), [(a["symbol"], a["decimals"]) for _, a in sorted(assets.items())])


# Fixed once a market exists: resting orders are counted in its ticks and steps, and its book
# lives on its partition. Fees and the minimum notional change by running the create again.
MARKET_IDENTITY = ("base", "quote", "tick", "step", "partition")
MARKET_TERMS = ("min_notional", "maker_fee_ppm", "taker_fee_ppm")


async def _create_market(settings: Settings, args: argparse.Namespace) -> None:
    from exchange import kafka_io, reference
    from schemas.topics import ASSETS, MARKETS

    await kafka_io.ensure_topics(settings)
    assets = await kafka_io.read_compacted(settings, ASSETS)
    for symbol in (args.base, args.quote):
        if symbol not in assets:
            raise CommandError(f"unknown asset {symbol}; create it first with `exchange asset create {symbol}`")
    existing = (await kafka_io.read_compacted(settings, MARKETS)).get(args.symbol)
    partition = args.partition
    if partition is None:
        # Re-running a create without --partition leaves the market where it is.
        partition = existing["partition"] if existing else reference.default_partition(args.symbol, settings.partitions)
    if partition >= settings.partitions:
        raise CommandError(f"partition {partition} does not exist (EXCHANGE_PARTITIONS={settings.partitions})")
    market = reference.make_market(
        args.symbol, assets[args.base], assets[args.quote], args.tick, args.step,
        min_notional=args.min_notional, maker_fee=args.maker_fee, taker_fee=args.taker_fee,
        partition=partition, ts=_now_ms(),
    )
    if existing is None:
        await kafka_io.publish(settings, MARKETS, args.symbol, market)
        print(f"created market {args.symbol} on partition {partition}")
        return
    changed = [field for field in MARKET_IDENTITY if existing[field] != market[field]]
    if changed:
        was = ", ".join(f"{field} {existing[field]}" for field in changed)
        raise CommandError(f"market {args.symbol} exists with {was}; "
                           f"{', '.join(MARKET_IDENTITY)} are fixed once created")
    if all(existing[field] == market[field] for field in MARKET_TERMS):
        print(f"market {args.symbol} exists already")
        return
    await kafka_io.publish(settings, MARKETS, args.symbol, market | {"status": existing["status"]})
    print(f"updated market {args.symbol}: min notional and fees")


async def _list_markets(settings: Settings, args: argparse.Namespace) -> None:
    from exchange import kafka_io, reference
    from schemas.topics import ASSETS, MARKETS

    assets = await kafka_io.read_compacted(settings, ASSETS)
    markets = await kafka_io.read_compacted(settings, MARKETS)
    _print_table(
        ("symbol", "status", "tick", "step", "min_notional", "maker_fee", "taker_fee", "partition"),
        [(m["symbol"], m["status"], m["tick"], m["step"],
          reference.atoms_to_amount(assets[m["quote"]], m["min_notional"]),
          reference.ppm_to_fee(m["maker_fee_ppm"]), reference.ppm_to_fee(m["taker_fee_ppm"]), m["partition"])
         for _, m in sorted(markets.items())],
    )


async def _set_market_status(settings: Settings, args: argparse.Namespace) -> None:
    from exchange import kafka_io
    from schemas.topics import MARKETS

    status = {"halt": "halted", "resume": "open"}[args.action]
    market = (await kafka_io.read_compacted(settings, MARKETS)).get(args.symbol)
    if market is None:
        raise CommandError(f"unknown market {args.symbol}")
    if market["status"] == status:
        print(f"market {args.symbol} is {status} already")
        return
    await kafka_io.publish(settings, MARKETS, args.symbol, market | {"status": status, "ts": _now_ms()})
    print(f"market {args.symbol} is {status}")


def _add_catalogue_commands(commands: argparse._SubParsersAction) -> None:
    """`exchange topics | asset | market ...`: the topics and the reference data on them."""
    topics = commands.add_parser("topics", help="the exchange's Kafka topics").add_subparsers(
        dest="action", required=True)
    topics.add_parser("create", help="create the catalogue's missing topics").set_defaults(
        run=_catalogue, act=_create_topics)
    topics.add_parser("list", help="every topic of the exchange and its Faust apps: partitions, replication, "
                      "under-replicated and offline partitions (exit 1 if any)").set_defaults(
        run=_catalogue, act=_list_topics)
    topics.add_parser("replicate", help="raise every existing topic to the replication in use (after adding "
                      "brokers), then list them").set_defaults(run=_catalogue, act=_replicate_topics)

    assets = commands.add_parser("asset", help="define and list assets").add_subparsers(dest="action", required=True)
    create = assets.add_parser("create", help="define an asset")
    create.add_argument("symbol", help="2 to 10 uppercase letters or digits, e.g. SOL")
    create.add_argument("--decimals", type=int, required=True, help="atoms per unit = 10^decimals (0..18)")
    create.set_defaults(run=_catalogue, act=_create_asset)
    assets.add_parser("list", help="list the assets").set_defaults(run=_catalogue, act=_list_assets)

    markets = commands.add_parser("market", help="define, list, halt and resume markets").add_subparsers(
        dest="action", required=True)
    create = markets.add_parser("create", help="define a market (again: change its fees and min notional)")
    create.add_argument("symbol", help="BASE_QUOTE, e.g. SOL_USDC")
    create.add_argument("--base", required=True, help="asset bought and sold, e.g. SOL")
    create.add_argument("--quote", required=True, help="asset prices are in, e.g. USDC")
    create.add_argument("--tick", required=True, help="price grid in quote per base unit, e.g. 0.01")
    create.add_argument("--step", required=True, help="quantity grid in base units, e.g. 0.001")
    create.add_argument("--min-notional", default="0", help="smallest order value in quote units")
    create.add_argument("--maker-fee", default="0", help="a fraction: 0.001 is 0.1%%")
    create.add_argument("--taker-fee", default="0", help="a fraction: 0.002 is 0.2%%")
    create.add_argument("--partition", type=int,
                        help="partition of the market-keyed topics (default: hash of the symbol)")
    create.set_defaults(run=_catalogue, act=_create_market)
    markets.add_parser("list", help="list the markets").set_defaults(run=_catalogue, act=_list_markets)
    for action in ("halt", "resume"):
        change = markets.add_parser(action, help=f"{action} trading in a market")
        change.add_argument("symbol")
        change.set_defaults(run=_catalogue, act=_set_market_status)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="exchange", description="Kafka-streaming spot exchange")
    commands = parser.add_subparsers(dest="command", required=True)

    infra = commands.add_parser("infra", help="run the local Kafka and Cassandra (no Docker needed)")
    infra.add_argument("action", choices=["up", "down", "status"])
    infra.add_argument(
        "--fast-unsafe", action="store_true",
        help="skip Cassandra's fsync; for throwaway test data only",
    )
    infra.add_argument("--brokers", type=int, help="up: Kafka brokers (default: the layout the state directory "
                       "remembers, else 1); a single broker may grow, nothing shrinks")
    infra.add_argument("--cassandra-nodes", type=int, help="up: Cassandra nodes (default: the layout the state "
                       "directory remembers, else 1); fixed once the ring exists")
    infra.set_defaults(run=_infra)

    bench = commands.add_parser("bench", help="benchmarks that print figures")
    bench.add_argument("which", choices=["gen-ops", "matching", "pipeline", "stages", "recorder", "api", "ws", "scale",
                                                "reads"])
    bench.add_argument("rest", nargs=argparse.REMAINDER, help="arguments of that benchmark (--help)")
    bench.set_defaults(run=_bench)

    from streams.run import add_arguments as worker_arguments  # argparse only; the app loads on run

    worker = commands.add_parser("worker", help="run one stream worker (accounts and matching agents)")
    worker_arguments(worker)
    worker.set_defaults(run=_worker)

    recorder = commands.add_parser("recorder", help="run one read-side worker (marketdata and Cassandra recorder)")
    worker_arguments(recorder)
    recorder.set_defaults(run=_recorder)

    whole = commands.add_parser("up", help="run the whole exchange here until Ctrl-C (servers, workers, recorder, API)")
    whole.add_argument("--workers", type=int, default=1)
    whole.add_argument("--without-demo", action="store_true", help="no market-making bot in the demo markets")
    whole.add_argument("--tls", action="store_true", help="serve https:// and wss:// with a local certificate made in "
                       "the state directory (or TLS_CERT_FILE and TLS_KEY_FILE when set)")
    whole.set_defaults(run=_up)

    prepare = commands.add_parser("setup", help="create the topics and the Cassandra schema (idempotent)")
    prepare.add_argument("--demo-markets", action="store_true", help="also define the demo assets and markets")
    prepare.set_defaults(run=_setup)

    hub = commands.add_parser("ws", help="run one WebSocket hub process (port WS_PORT, default 8081)")
    hub.add_argument("--port", type=int, default=None)
    hub.set_defaults(run=_ws)

    api = commands.add_parser("api", help="run one REST API process (port API_PORT, default 8080)")
    api.add_argument("--port", type=int, default=None)
    api.set_defaults(run=_api)

    from exchange.demo_bot import add_arguments as demo_arguments  # argparse and httpx only

    demo = commands.add_parser("demo", help="a market-making bot that keeps the demo markets moving (over REST)")
    demo_arguments(demo)
    demo.set_defaults(run=_demo)

    catcher = commands.add_parser("mail-catcher", help="a development SMTP server keeping what it receives as "
                                                       ".eml files (exchange up starts one)")
    catcher.add_argument("--dir", type=Path, required=True, help="where each message is kept as an .eml file")
    catcher.add_argument("--host", default="127.0.0.1")
    catcher.add_argument("--port", type=int, default=1025)
    catcher.set_defaults(run=_mail_catcher)

    report = commands.add_parser("report", help="reports over the read side")
    report.add_argument("which", choices=["reconcile", "assets", "markets"],
                        help="reconcile: every asset's balances against its deposits and withdrawals, exit 1 on a "
                             "difference; assets: the same from the asset-reports agent's totals; markets: each "
                             "market's volume, trades, fee income, traders and orders over a UTC day")
    report.add_argument("--day", help="markets: YYYY-MM-DD, UTC (default: today)")
    report.add_argument("--by", choices=["day", "hour"], default="day", help="markets: the whole day, or each hour")
    report.add_argument("--asset", action="append", help="reconcile, assets: only this asset (repeatable)")
    report.add_argument("--csv", action="store_true", help="CSV instead of a table")
    report.set_defaults(run=_report)

    user = commands.add_parser("user", help="API users")
    user.add_argument("action", choices=["admin", "user"], help="give the user this role (from their next login)")
    user.add_argument("email")
    user.set_defaults(run=_user_role)

    logs = commands.add_parser("logs", help="every process's logs in time order, filtered by order, trade, account...")
    logs.add_argument("--order", help="lines naming this order id (as maker or taker too)")
    logs.add_argument("--trade", help="lines naming this trade id")
    logs.add_argument("--account", help="lines naming this account")
    logs.add_argument("--market", help="lines naming this market")
    logs.add_argument("--command", help="lines naming this command id")
    logs.add_argument("--level", choices=["debug", "info", "warning", "error", "critical"], default="debug",
                      help="this level and above")
    logs.add_argument("--since", help="10m, 2h, 1d ago, or an ISO time")
    logs.add_argument("--json", action="store_true", help="the lines as written, not reformatted")
    logs.add_argument("-f", "--follow", action="store_true", help="then new lines as they are written, until Ctrl-C")
    logs.add_argument("--dir", type=Path, help="the log directory (default $EXCHANGE_STATE_DIR/logs)")
    logs.set_defaults(run=_logs)

    db = commands.add_parser("db", help="the Cassandra schema")
    db.add_argument("action", choices=["migrate"], help="create the keyspace and tables (idempotent)")
    db.set_defaults(run=_db)

    partitions = commands.add_parser("partitions", help="change the number of partitions (docs/operations.md)")
    partitions.add_argument("action", choices=["grow"], help="grow a stopped, drained exchange and move the "
                            "accounts that hash to another partition")
    partitions.add_argument("--to", type=int, required=True, help="the new EXCHANGE_PARTITIONS")
    partitions.add_argument("--clear-local-state", action="store_true", help="also remove this host's local "
                            "copies of the accounts table ($EXCHANGE_STATE_DIR/workers): a full restore")
    partitions.set_defaults(run=_partitions)

    _add_catalogue_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
