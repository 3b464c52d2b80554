"""`exchange worker` and `exchange recorder`: one Faust worker process each.

A worker runs the order flow (accounts and matching agents); a recorder runs the read side
(marketdata and the Cassandra recorder), after applying the Cassandra schema.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

LOG_LEVELS = {"crit": logging.CRITICAL, "error": logging.ERROR, "warn": logging.WARNING, "info": logging.INFO,
              "debug": logging.DEBUG}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default="1",
                        help="worker name; its RocksDB files live in $EXCHANGE_STATE_DIR/workers/<name>")
    parser.add_argument("--loglevel", default="warn", choices=list(LOG_LEVELS))
    parser.add_argument("--metrics-port", type=int, default=None,
                        help="serve Prometheus metrics at this port on BIND_HOST (default 127.0.0.1); default: none")


def run(args: argparse.Namespace, read_side: bool = False) -> int:
    # Imported here: `exchange --help` and the other subcommands need not load Faust.
    import faust
    import uvloop

    from exchange import gc_tuning, logs
    from exchange.config import Settings
    from exchange.kafka_io import ensure_topics, replication

    from . import diagnostics

    # uvloop: a worker spends much of its time in the event loop itself (a future per message
    # sent, a callback per fetch), which uvloop runs in C. Set before anything makes a loop.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    settings = Settings.from_env()
    # Resolved once: the exchange's topics and the changelog topics Faust creates get the same.
    replicas = asyncio.run(replication(settings))
    asyncio.run(ensure_topics(settings, replicas))
    if read_side:
        from exchange.db import migrate_when_up

        from .read_worker import build_read_app

        migrate_when_up(settings)
        app = build_read_app(settings, args.name, replicas, args.metrics_port)
    else:
        from .worker import build_app

        app = build_app(settings, args.name, replicas, args.metrics_port)

    @app.task
    async def _diagnostics() -> None:
        diagnostics.install(asyncio.get_running_loop(), app)

    process = f"{'recorder' if read_side else 'worker'}-{args.name}"
    logs.lighten_records()
    logging_config = logs.dict_config(settings.log_format, process, LOG_LEVELS[args.loglevel])
    worker = faust.Worker(app, loglevel=args.loglevel, quiet=True, logging_config=logging_config)
    # No progress spinner: to spin on every log record it sets the root logger to DEBUG, so
    # aiokafka and Faust built a debug record for every message (a tenth to a fifth of the
    # worker's time, and of a restore's) only for the handlers to drop it.
    worker.spinner = None
    gc_tuning.tune()
    worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="exchange worker", description=__doc__)
    add_arguments(parser)
    raise SystemExit(run(parser.parse_args()))
