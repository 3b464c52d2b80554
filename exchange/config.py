"""Every setting of the exchange, read from the environment (and `.env` if present) in one place.

Each process reads `Settings.from_env()` once at start. Defaults make a laptop run work with no
configuration at all; production changes them through the same variables. The README's
configuration table lists every variable below; `tests/unit/test_config.py` keeps the two in step.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

ENVIRONMENTS = ("development", "production")
CONSISTENCY_LEVELS = ("ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM", "LOCAL_ONE")
SERIAL_CONSISTENCY_LEVELS = ("SERIAL", "LOCAL_SERIAL")
# What a broker accepts as a consumer group member's session timeout, by default.
MIN_SESSION_TIMEOUT_MS, MAX_SESSION_TIMEOUT_MS = 6000, 1800000
# `exchange infra up` remembers the local cluster's layout here, in the state directory.
LAYOUT_FILE = "cluster.json"


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
    kafka_bootstrap_servers: str
    kafka_brokers: int
    kafka_replication_factor: int
    kafka_min_insync_replicas: int
    kafka_session_timeout_ms: int
    cassandra_host: str
    cassandra_port: int
    cassandra_storage_port: int
    cassandra_jmx_port: int
    cassandra_heap: str
    cassandra_keyspace: str
    cassandra_replication: str
    cassandra_nodes: int
    cassandra_consistency: str
    cassandra_serial_consistency: str
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
    tls_cert_file: str
    tls_key_file: str
    read_wait_ms: int
    smtp_host: str
    smtp_port: int
    smtp_security: str
    smtp_user: str
    smtp_password: str
    smtp_from: str

    @property
    def tls(self) -> bool:
        """The API and the hub serve https:// and wss:// (TLS_CERT_FILE and TLS_KEY_FILE set)."""
        return bool(self.tls_cert_file)

    @property
    def api_url(self) -> str:
        """The API on this machine, as its own processes and `exchange up` reach it."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.api_port}"

    @property
    def hub_url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.ws_port}"

    @property
    def kafka_bootstrap(self) -> str:
        """Every broker as host:port, comma-separated: KAFKA_BOOTSTRAP if set, else the local layout."""
        if self.kafka_bootstrap_servers:
            return self.kafka_bootstrap_servers
        return ",".join(f"{host}:{self.kafka_port}" for host in self.kafka_hosts)

    @property
    def kafka_hosts(self) -> list[str]:
        """The local brokers' addresses: KAFKA_HOST, then the next addresses, one per broker."""
        return [node_host(self.kafka_host, i) for i in range(self.kafka_brokers)]

    @property
    def cassandra_hosts(self) -> list[str]:
        """The driver's contact points: CASSANDRA_HOST's list if it is one, else the local layout."""
        if "," in self.cassandra_host:
            return [host.strip() for host in self.cassandra_host.split(",") if host.strip()]
        return [node_host(self.cassandra_host, i) for i in range(self.cassandra_nodes)]

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
        state_dir = read.path("EXCHANGE_STATE_DIR", _user_dir(values, "XDG_DATA_HOME", ".local/share"))
        layout = read_layout(state_dir)
        cassandra_nodes = read.count("CASSANDRA_NODES", layout.get("cassandra_nodes", 1))
        settings = cls(
            environment=read.choice("EXCHANGE_ENV", "development", ENVIRONMENTS),
            state_dir=state_dir,
            cache_dir=read.path("EXCHANGE_CACHE_DIR", _user_dir(values, "XDG_CACHE_HOME", ".cache")),
            kafka_host=read.text("KAFKA_HOST", "127.0.0.1"),
            kafka_port=read.port("KAFKA_PORT", 9092),
            kafka_controller_port=read.port("KAFKA_CONTROLLER_PORT", 9093),
            kafka_heap=read.text("KAFKA_HEAP", "512m"),
            kafka_bootstrap_servers=read.text("KAFKA_BOOTSTRAP", ""),
            kafka_brokers=read.count("KAFKA_BROKERS", layout.get("kafka_brokers", 1)),
            kafka_replication_factor=read.optional_count("KAFKA_REPLICATION_FACTOR"),
            kafka_min_insync_replicas=read.optional_count("KAFKA_MIN_INSYNC_REPLICAS"),
            kafka_session_timeout_ms=read.count("KAFKA_SESSION_TIMEOUT_MS", 10000),
            cassandra_host=read.text("CASSANDRA_HOST", "127.0.0.1"),
            cassandra_port=read.port("CASSANDRA_PORT", 9042),
            cassandra_storage_port=read.port("CASSANDRA_STORAGE_PORT", 7000),
            cassandra_jmx_port=read.port("CASSANDRA_JMX_PORT", 7199),
            cassandra_heap=read.text("CASSANDRA_HEAP", "1g"),
            cassandra_keyspace=read.identifier("CASSANDRA_KEYSPACE", "exchange"),
            cassandra_replication=read.text("CASSANDRA_REPLICATION", f"SimpleStrategy:{min(3, cassandra_nodes)}"),
            cassandra_nodes=cassandra_nodes,
            cassandra_consistency=read.choice("CASSANDRA_CONSISTENCY", "QUORUM", CONSISTENCY_LEVELS),
            cassandra_serial_consistency=read.choice("CASSANDRA_SERIAL_CONSISTENCY", "SERIAL",
                                                     SERIAL_CONSISTENCY_LEVELS),
            partitions=read.count("EXCHANGE_PARTITIONS", 12),
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
            tls_cert_file=read.text("TLS_CERT_FILE", ""),
            tls_key_file=read.text("TLS_KEY_FILE", ""),
            read_wait_ms=read.whole("READ_WAIT_MS", 2000),
            smtp_host=read.text("SMTP_HOST", ""),
            smtp_port=read.port("SMTP_PORT", 587),
            smtp_security=read.choice("SMTP_SECURITY", "starttls", ("starttls", "tls", "none")),
            smtp_user=read.text("SMTP_USER", ""),
            smtp_password=read.text("SMTP_PASSWORD", ""),
            smtp_from=read.text("SMTP_FROM", "kafka-exchange <no-reply@localhost>"),
        )
        if bool(settings.tls_cert_file) != bool(settings.tls_key_file):
            raise ConfigError("TLS_CERT_FILE and TLS_KEY_FILE go together: set both (https and wss) or neither")
        for name, path in (("TLS_CERT_FILE", settings.tls_cert_file), ("TLS_KEY_FILE", settings.tls_key_file)):
            if path and not Path(path).is_file():
                raise ConfigError(f"{name}={path!r}: no such file")
        replication_options(settings.cassandra_replication)  # fail at start, not at first query
        settings.kafka_hosts, settings.cassandra_hosts  # noqa: B018 - an underivable address fails now
        if not MIN_SESSION_TIMEOUT_MS <= settings.kafka_session_timeout_ms <= MAX_SESSION_TIMEOUT_MS:
            raise ConfigError(f"KAFKA_SESSION_TIMEOUT_MS={settings.kafka_session_timeout_ms}: the brokers take "
                              f"{MIN_SESSION_TIMEOUT_MS} to {MAX_SESSION_TIMEOUT_MS} (their group.min/max.session"
                              ".timeout.ms defaults)")
        if settings.kafka_min_insync_replicas > (settings.kafka_replication_factor or 3):
            raise ConfigError(f"KAFKA_MIN_INSYNC_REPLICAS={settings.kafka_min_insync_replicas}: more than the "
                              "replication factor; no write could ever succeed")
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
    "KAFKA_BOOTSTRAP": "kafka_bootstrap_servers",
    "KAFKA_BROKERS": "kafka_brokers",
    "KAFKA_REPLICATION_FACTOR": "kafka_replication_factor",
    "KAFKA_MIN_INSYNC_REPLICAS": "kafka_min_insync_replicas",
    "KAFKA_SESSION_TIMEOUT_MS": "kafka_session_timeout_ms",
    "CASSANDRA_HOST": "cassandra_host",
    "CASSANDRA_PORT": "cassandra_port",
    "CASSANDRA_STORAGE_PORT": "cassandra_storage_port",
    "CASSANDRA_JMX_PORT": "cassandra_jmx_port",
    "CASSANDRA_HEAP": "cassandra_heap",
    "CASSANDRA_KEYSPACE": "cassandra_keyspace",
    "CASSANDRA_REPLICATION": "cassandra_replication",
    "CASSANDRA_NODES": "cassandra_nodes",
    "CASSANDRA_CONSISTENCY": "cassandra_consistency",
    "CASSANDRA_SERIAL_CONSISTENCY": "cassandra_serial_consistency",
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
    "TLS_CERT_FILE": "tls_cert_file",
    "TLS_KEY_FILE": "tls_key_file",
    "READ_WAIT_MS": "read_wait_ms",
    "SMTP_HOST": "smtp_host",
    "SMTP_PORT": "smtp_port",
    "SMTP_SECURITY": "smtp_security",
    "SMTP_USER": "smtp_user",
    "SMTP_PASSWORD": "smtp_password",
    "SMTP_FROM": "smtp_from",
}


def node_host(first: str, index: int) -> str:
    """The address of local node `index` (0-based): the first node's IPv4 address plus `index` in its
    last octet, e.g. 127.0.0.1, 127.0.0.2, 127.0.0.3. Every node keeps the first node's ports."""
    if index == 0:
        return first
    try:
        address = ipaddress.IPv4Address(first)
    except ValueError:
        raise ConfigError(f"{first!r}: several local nodes need an IPv4 address to count up from (e.g. "
                          "127.0.0.1); name a cluster's nodes with KAFKA_BOOTSTRAP or a CASSANDRA_HOST list") from None
    last = int(address) & 0xFF
    if last + index > 254:
        raise ConfigError(f"{first}: no room for {index + 1} nodes in its last octet")
    return str(address + index)


def read_layout(state_dir: Path) -> dict[str, int]:
    """The layout `exchange infra up` remembered in this state directory ({} when none)."""
    try:
        layout = json.loads((state_dir / LAYOUT_FILE).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{state_dir / LAYOUT_FILE}: unreadable ({exc}); "
                          "remove it and run `exchange infra up`") from exc
    return {k: int(v) for k, v in layout.items() if isinstance(v, int)}


def write_layout(state_dir: Path, layout: dict[str, int]) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    partial = state_dir / (LAYOUT_FILE + ".partial")
    partial.write_text(json.dumps(layout, indent=2, sort_keys=True) + "\n")
    partial.rename(state_dir / LAYOUT_FILE)


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

    def whole(self, name: str, default: int) -> int:
        value = self.text(name, str(default))
        if not value.isdigit():
            raise ConfigError(f"{name}={value!r}: must be a whole number (0 or more)")
        return int(value)

    def optional_count(self, name: str) -> int:
        """A whole number, or 0 when unset (or 0): the caller derives a value."""
        value = self.text(name, "0")
        if not value.isdigit():
            raise ConfigError(f"{name}={value!r}: must be a whole number, or unset")
        return int(value)

    def identifier(self, name: str, default: str) -> str:
        value = self.text(name, default)
        if not (value.replace("_", "").isalnum() and value[0].isalpha()):
            raise ConfigError(f"{name}={value!r}: must be a letter followed by letters, digits or _")
        return value
