"""`exchange worker`: one Faust worker process running the accounts and matching agents."""

from __future__ import annotations

import argparse
import asyncio
import logging


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default="1",
                        help="worker name; its RocksDB files live in $EXCHANGE_STATE_DIR/workers/<name>")
    parser.add_argument("--loglevel", default="warn", choices=["crit", "error", "warn", "info", "debug"])


def run(args: argparse.Namespace) -> int:
    # Imported here: `exchange --help` and the other subcommands need not load Faust.
    import faust

    from exchange.config import Settings
    from exchange.kafka_io import ensure_topics

    from . import diagnostics
    from .worker import build_app

    settings = Settings.from_env()
    asyncio.run(ensure_topics(settings))
    app = build_app(settings, args.name)

    @app.task
    async def _after_logging_is_set_up() -> None:
        diagnostics.install(asyncio.get_running_loop(), app)
        # aiokafka builds a debug record for every message it sends unless told not to, which
        # cost a tenth of the worker's time.
        logging.getLogger("aiokafka").setLevel(max(logging.INFO, logging.getLogger().getEffectiveLevel()))

    faust.Worker(app, loglevel=args.loglevel, quiet=True).execute_from_commandline()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="exchange worker", description=__doc__)
    add_arguments(parser)
    raise SystemExit(run(parser.parse_args()))
