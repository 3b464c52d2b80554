"""Every setting of the exchange, read from the environment (and `.env` if present) in one place.

Each process reads `Settings.from_env()` once at start. Defaults make a laptop run work with no
configuration at all; production changes them through the same variables. The README's
configuration table lists every variable below; `tests/unit/test_config.py` keeps the two in step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

ENVIRONMENTS = ("development", "production")


class ConfigError(ValueError):
    """A variable is set to something the exchange cannot use."""


def _user_dir(values: dict[str, str], xdg_var: str, fallback: str) -> Path:
    home = values.get("HOME") or str(Path.home())
    base = values.get(xdg_var) or str(Path(home) / fallback)
    return Path(base) / "kafka-exchange"


@dataclass(frozen=True)
class Settings:
    environment: str
    state_dir: Path
    cache_dir: Path
    kafka_host: str
    kafka_port: int
    kafka_controller_port: int
    kafka_heap: str
    cassandra_host: str
    cassandra_port: int
    cassandra_storage_port: int
    cassandra_jmx_port: int
    cassandra_heap: str
    cassandra_keyspace: str
    cassandra_replication: str
    partitions: int
    api_port: int
    ws_port: int
    jwt_secret: str
    jwt_ttl_s: int
    faucet: bool
    ws_client_buffer: int
    log_format: str
    bind_host: str
    ws_public_url: str
    binance_weight_per_minute: int
    binance_orders_per_10s: int

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.kafka_host}:{self.kafka_port}"

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    def to_env(self) -> dict[str, str]:
        """The variables that give another process these same settings."""
        def text(value) -> str:
            return ("on" if value else "off") if isinstance(value, bool) else str(value)

        return {name: text(getattr(self, field)) for name, field in VARIABLES.items()}

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, dotenv: str | Path = ".env") -> "Settings":
        # Real environment variables win over `.env`, so a CI or shell override always applies.
        values: dict[str, str] = {}
        if environ is None:
            if Path(dotenv).is_file():
                values.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
            values.update(os.environ)
        else:
            values.update(environ)
        read = _Reader(values)
        settings = cls(
            environment=read.choice("EXCHANGE_ENV", "development", ENVIRONMENTS),
            state_dir=read.path("EXCHANGE_STATE_DIR", _user_dir(values, "XDG_DATA_HOME", ".local/share")),
            cache_dir=read.path("EXCHANGE_CACHE_DIR", _user_dir(values, "XDG_CACHE_HOME", ".cache")),
            kafka_host=read.text("KAFKA_HOST", "127.0.0.1"),
            kafka_port=read.port("KAFKA_PORT", 9092),
            kafka_controller_port=read.port("KAFKA_CONTROLLER_PORT", 9093),
            kafka_heap=read.text("KAFKA_HEAP", "512m"),
            cassandra_host=read.text("CASSANDRA_HOST", "127.0.0.1"),
            cassandra_port=read.port("CASSANDRA_PORT", 9042),
            cassandra_storage_port=read.port("CASSANDRA_STORAGE_PORT", 7000),
            cassandra_jmx_port=read.port("CASSANDRA_JMX_PORT", 7199),
            cassandra_heap=read.text("CASSANDRA_HEAP", "1g"),
            cassandra_keyspace=read.identifier("CASSANDRA_KEYSPACE", "exchange"),
            cassandra_replication=read.text("CASSANDRA_REPLICATION", "SimpleStrategy:1"),
            partitions=read.count("EXCHANGE_PARTITIONS", 4),
            api_port=read.port("API_PORT", 8080),
            ws_port=read.port("WS_PORT", 8081),
            jwt_secret=read.text("JWT_SECRET", ""),
            jwt_ttl_s=read.count("JWT_TTL_SECONDS", 3600),
            faucet=read.choice("EXCHANGE_FAUCET", "off", ("on", "off")) == "on",
            ws_client_buffer=read.count("WS_CLIENT_BUFFER", 1 << 20),
            log_format=read.choice("LOG_FORMAT", "json", ("json", "text")),
            bind_host=read.text("BIND_HOST", "127.0.0.1"),
            ws_public_url=read.text("WS_PUBLIC_URL", ""),
            binance_weight_per_minute=read.count("BINANCE_WEIGHT_PER_MINUTE", 6000),
            binance_orders_per_10s=read.count("BINANCE_ORDERS_PER_10S", 100),
        )
        replication_options(settings.cassandra_replication)  # fail at start, not at first query
        return settings


# Variable name -> Settings field; the README documents each one.
VARIABLES = {
    "EXCHANGE_ENV": "environment",
    "EXCHANGE_STATE_DIR": "state_dir",
    "EXCHANGE_CACHE_DIR": "cache_dir",
    "KAFKA_HOST": "kafka_host",
    "KAFKA_PORT": "kafka_port",
    "KAFKA_CONTROLLER_PORT": "kafka_controller_port",
    "KAFKA_HEAP": "kafka_heap",
    "CASSANDRA_HOST": "cassandra_host",
    "CASSANDRA_PORT": "cassandra_port",
    "CASSANDRA_STORAGE_PORT": "cassandra_storage_port",
    "CASSANDRA_JMX_PORT": "cassandra_jmx_port",
    "CASSANDRA_HEAP": "cassandra_heap",
    "CASSANDRA_KEYSPACE": "cassandra_keyspace",
    "CASSANDRA_REPLICATION": "cassandra_replication",
    "EXCHANGE_PARTITIONS": "partitions",
    "API_PORT": "api_port",
    "WS_PORT": "ws_port",
    "JWT_SECRET": "jwt_secret",
    "JWT_TTL_SECONDS": "jwt_ttl_s",
    "EXCHANGE_FAUCET": "faucet",
    "WS_CLIENT_BUFFER": "ws_client_buffer",
    "LOG_FORMAT": "log_format",
    "BIND_HOST": "bind_host",
    "WS_PUBLIC_URL": "ws_public_url",
    "BINANCE_WEIGHT_PER_MINUTE": "binance_weight_per_minute",
    "BINANCE_ORDERS_PER_10S": "binance_orders_per_10s",
}


def replication_options(spec: str) -> dict[str, str | int]:
    """Turn `SimpleStrategy:1` or `NetworkTopologyStrategy:dc1=3,dc2=3` into CQL replication options."""
    strategy, _, rest = spec.partition(":")
    if strategy == "SimpleStrategy" and rest.isdigit() and int(rest) > 0:
        return {"class": "SimpleStrategy", "replication_factor": int(rest)}
    if strategy == "NetworkTopologyStrategy" and rest:
        options: dict[str, str | int] = {"class": "NetworkTopologyStrategy"}
        for part in rest.split(","):
            dc, _, factor = part.partition("=")
            if not dc.strip() or not factor.isdigit():
                break
            options[dc.strip()] = int(factor)
        else:
            return options
    raise ConfigError(
        f"CASSANDRA_REPLICATION={spec!r}: expected SimpleStrategy:<rf> or NetworkTopologyStrategy:<dc>=<rf>,..."
    )


class _Reader:
    """Reads typed values and names the variable in every error."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values

    def text(self, name: str, default: str) -> str:
        value = self._values.get(name, "").strip()
        return value or default

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.text(name, default)
        if value not in allowed:
            raise ConfigError(f"{name}={value!r}: must be one of {', '.join(allowed)}")
        return value

    def path(self, name: str, default: Path) -> Path:
        value = self._values.get(name, "").strip()
        return Path(value).expanduser().resolve() if value else default

    def port(self, name: str, default: int) -> int:
        value = self.text(name, str(default))
        if not value.isdigit() or not 0 < int(value) < 65536:
            raise ConfigError(f"{name}={value!r}: must be a TCP port number")
        return int(value)

    def count(self, name: str, default: int) -> int:
        value = self.text(name, str(default))
        if not value.isdigit() or int(value) < 1:
            raise ConfigError(f"{name}={value!r}: must be a whole number, at least 1")
        return int(value)

    def identifier(self, name: str, default: str) -> str:
        value = self.text(name, default)
        if not (value.replace("_", "").isalnum() and value[0].isalpha()):
            raise ConfigError(f"{name}={value!r}: must be a letter followed by letters, digits or _")
        return value
