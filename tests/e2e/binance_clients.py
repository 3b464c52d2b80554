"""The real client libraries pointed at a running exchange, as docs/binance-api.md shows."""

from __future__ import annotations

import re
import secrets
from decimal import Decimal

import httpx

CCXT_OPTIONS = {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False}


def ccxt_urls(base_url: str, urls: dict) -> dict:
    """Every API group of ccxt's binance at this exchange's /api/v3: spot answers, the rest -1000."""
    return {name: f"{base_url}/api/v3" for name in urls}


def ccxt_exchange(module, base_url: str, key: str, secret: str):
    exchange = module.binance({"apiKey": key, "secret": secret, "options": dict(CCXT_OPTIONS),
                               "enableRateLimit": False})
    exchange.urls["api"] = ccxt_urls(base_url, exchange.urls["api"])
    return exchange


def eight(text: str) -> str:
    """A number as Binance writes it: "10.5" -> "10.50000000"."""
    return f"{Decimal(text):.8f}"


def with_hosts(urls, rest_base: str, ws_base: str):
    """A client's URL table with only the scheme and host of each URL changed (https://api.binance.com
    -> rest_base, wss://stream.binance.com:9443 -> ws_base), paths kept: what a user changes."""
    if isinstance(urls, dict):
        return {name: with_hosts(url, rest_base, ws_base) for name, url in urls.items()}
    if isinstance(urls, str):
        url = re.sub(r"^wss://[^/]+", ws_base, urls)
        return re.sub(r"^https://[^/]+", rest_base, url)
    return urls


def ccxt_defaults(module, base_url: str, ws_base: str, key: str, secret: str):
    """ccxt's (or ccxt.pro's) binance with its default options and only its URLs' hosts changed."""
    exchange = module.binance({"apiKey": key, "secret": secret, "enableRateLimit": False})
    exchange.urls["api"] = with_hosts(exchange.urls["api"], base_url, ws_base)
    return exchange


def python_binance_client(base_url: str, key: str, secret: str):
    from binance.client import Client

    client = Client(key, secret, ping=False)
    client.API_URL = f"{base_url}/api"
    return client


def trader(base_url: str, name: str) -> dict:
    """A new user with an API key; `key`, `secret`, `account` and a bearer `auth` header."""
    email = f"{name}-{secrets.token_hex(4)}@example.com"
    with httpx.Client(base_url=base_url, timeout=30) as http:
        signup = http.post("/api/v1/auth/signup", json={"username": name, "email": email, "password": "s3cret-pass"})
        assert signup.status_code == 201, signup.text
        token = http.post("/api/v1/auth/login", json={"email": email, "password": "s3cret-pass"}).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        key = http.post("/api/v1/api-keys", headers=auth, json={"label": "bot"})
        assert key.status_code == 201, key.text
    return {"key": key.json()["key_id"], "secret": key.json()["secret"], "account": signup.json()["account_id"],
            "auth": auth}
