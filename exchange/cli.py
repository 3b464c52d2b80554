"""The `exchange` command: one entry point for operators, developers and CI.

Each subcommand imports what it needs only when it runs, so `exchange infra status` does not
pay for loading Faust, and the engine benchmark is not disturbed by unrelated modules.
"""

from __future__ import annotations

import argparse
import sys

from exchange.config import ConfigError, Settings


def _infra(args: argparse.Namespace) -> int:
    from infra.local import runner
    from infra.local.toolchain import ToolchainError

    settings = Settings.from_env()
    try:
        if args.action == "up":
            runner.up(settings, fast_unsafe=args.fast_unsafe)
            return 0 if runner.status(settings) else 1
        if args.action == "down":
            runner.down(settings)
            return 0
        return 0 if runner.status(settings) else 1
    except ToolchainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _bench(args: argparse.Namespace) -> int:
    if args.which == "gen-ops":
        from bench import gen_ops as module
    else:
        from bench import matching as module
    return module.main(args.rest)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="exchange", description="Kafka-streaming spot exchange")
    commands = parser.add_subparsers(dest="command", required=True)

    infra = commands.add_parser("infra", help="run the local Kafka and Cassandra (no Docker needed)")
    infra.add_argument("action", choices=["up", "down", "status"])
    infra.add_argument(
        "--fast-unsafe", action="store_true",
        help="skip Cassandra's fsync; for throwaway test data only",
    )
    infra.set_defaults(run=_infra)

    bench = commands.add_parser("bench", help="benchmarks that print figures")
    bench.add_argument("which", choices=["gen-ops", "matching"])
    bench.add_argument("rest", nargs=argparse.REMAINDER, help="arguments of that benchmark (--help)")
    bench.set_defaults(run=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
