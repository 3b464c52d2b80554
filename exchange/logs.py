"""Structured logs: one JSON object per line, carrying the ids a line is about.

Every process (worker, recorder, API, hub) logs this way unless LOG_FORMAT=text. A log call
names its ids as `extra`, e.g. `log.info("order placed", extra={"order_id": 7, "account": "u1"})`,
and they become fields, so a log pipeline can follow one order or trade across processes.
"""

from __future__ import annotations

import logging
import sys
import time

import orjson

# The `extra` fields that become JSON fields; anything else in `extra` stays out of the line.
FIELDS = ("order_id", "client_order_id", "trade_id", "maker_order_id", "taker_order_id", "command_id", "account",
          "market", "status", "reason", "topic", "partition", "offset")


class JsonFormatter(logging.Formatter):
    converter = time.gmtime  # timestamps in UTC, as their Z says

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
                 "level": record.levelname.lower(), "process": self.process, "logger": record.name,
                 "message": record.getMessage()}
        for field in FIELDS:
            value = record.__dict__.get(field)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def text_formatter() -> logging.Formatter:
    return logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")


def formatter(log_format: str, process: str) -> logging.Formatter:
    return JsonFormatter(process) if log_format == "json" else text_formatter()


def lighten_records() -> None:
    """Stop logging from gathering what no format here shows: the caller's file and line (a walk
    up the stack at every call), the thread's and the process's names.

    A record then costs about a fifth less (the API logs a line for every order); the process
    id, which the text format shows, is still taken. These are the switches the logging HOWTO's
    "Optimization" section names for this.
    """
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False


def configure(log_format: str, process: str, level: int = logging.INFO) -> None:
    """Root logging to stderr in the chosen format, for the API and the hub."""
    lighten_records()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format, process))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def dict_config(log_format: str, process: str, level: int) -> dict | None:
    """A `logging.config.dictConfig` for Faust's worker (which sets logging up itself), or None
    for its default text format."""
    if log_format != "json":
        return None
    return {"version": 1, "disable_existing_loggers": False,
            "formatters": {"json": {"()": JsonFormatter, "process": process}},
            "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "json", "level": level}},
            "root": {"level": level, "handlers": ["default"]}}
