"""Passwords, tokens, the login brake and order ids, without servers."""

from __future__ import annotations

import time

import jwt
import pytest

from api.ids import AHEAD_S, EPOCH_MS, SEQUENCE, OrderIds, OrderIdsUnavailable, placed_ms
from api.security import (
    DEV_SECRET,
    LoginBrake,
    VerifiedTokens,
    check_password,
    hash_password,
    issue_token,
    jwt_secret,
    read_token,
    signed_out,
)
from exchange.config import ConfigError, Settings


def test_a_password_checks_only_against_its_own_hash():
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$") and "correct horse" not in stored
    assert check_password("correct horse", stored)
    assert not check_password("correct horsE", stored)
    assert not check_password("correct horse", "garbage")
    assert hash_password("correct horse") != stored  # salted


def test_tokens_are_read_back_only_when_signed_with_hs256_and_the_secret_and_unexpired():
    token = issue_token(DEV_SECRET, "acct", "user", 60)
    assert read_token(DEV_SECRET, token)["sub"] == "acct"
    assert read_token("another-secret-of-enough-length-0123456789", token) is None
    now = int(time.time())
    assert read_token(DEV_SECRET, jwt.encode({"sub": "a", "iat": now, "exp": now - 1}, DEV_SECRET, "HS256")) is None
    assert read_token(DEV_SECRET, jwt.encode({"sub": "a", "iat": now, "exp": now + 60}, DEV_SECRET, "HS512")) is None
    assert read_token(DEV_SECRET, jwt.encode({"sub": "a", "iat": now, "exp": now + 60}, None, "none")) is None
    assert read_token(DEV_SECRET, jwt.encode({"sub": "a"}, DEV_SECRET, "HS256")) is None  # no expiry
    assert read_token(DEV_SECRET, "not.a.token") is None


def test_production_needs_a_strong_secret():
    dev = Settings.from_env({"EXCHANGE_ENV": "development"})
    assert jwt_secret(dev) == DEV_SECRET
    for weak in ("", "short", DEV_SECRET):
        with pytest.raises(ConfigError):
            jwt_secret(Settings.from_env({"EXCHANGE_ENV": "production", "JWT_SECRET": weak}))
    strong = "k" * 48
    assert jwt_secret(Settings.from_env({"EXCHANGE_ENV": "production", "JWT_SECRET": strong})) == strong


def test_the_brake_stops_an_email_after_five_failures_and_an_address_after_fifty():
    brake = LoginBrake()
    for _ in range(4):
        brake.failed("email:a", "client:x")
    assert not brake.blocked("email:a", "client:x")
    brake.failed("email:a", "client:x")
    assert brake.blocked("email:a", "client:x") > 0
    assert not brake.blocked("email:b", "client:x")  # five failures from one address are not fifty
    brake.succeeded("email:a")
    assert not brake.blocked("email:a")


def test_attempts_in_flight_count_before_their_password_is_checked():
    """30 guesses sent at once: each is counted as it starts, so only five get to a password
    check, and the right password sent with them is refused too."""
    brake = LoginBrake()
    waits = [brake.attempt("email:a", "client:x") for _ in range(31)]
    assert waits[:5] == [0.0] * 5 and all(wait > 0 for wait in waits[5:])
    brake.succeeded("email:a", "client:x")  # one of the five was right
    assert brake.attempt("email:a", "client:x") == 0.0


def test_order_ids_are_unique_grow_and_stay_exact_in_javascript():
    ids = OrderIds(node=5)
    drawn = [ids.next() for _ in range(20_000)]
    assert drawn == sorted(drawn) and len(set(drawn)) == len(drawn)
    assert 0 < drawn[0] and drawn[-1] <= 2**53 - 1  # JSON.parse keeps every integer up to here
    assert abs(placed_ms(drawn[0]) - time.time() * 1000) < 6_000
    legacy = 255_623_316_692_307_968  # an id of the earlier layout: ms << 22
    assert placed_ms(legacy) == EPOCH_MS + (legacy >> 22)


def test_a_busy_second_borrows_the_next_few_then_refuses_and_two_nodes_never_meet():
    clock = [1_800_000_000.0]
    one, two = OrderIds(node=1, clock=lambda: clock[0]), OrderIds(node=2, clock=lambda: clock[0])
    drawn = [one.next() for _ in range(SEQUENCE * (AHEAD_S + 1))]  # this second and AHEAD_S more
    with pytest.raises(OrderIdsUnavailable):
        one.next()
    assert len(set(drawn)) == len(drawn) and drawn == sorted(drawn)
    assert not set(drawn) & {two.next() for _ in range(SEQUENCE)}
    clock[0] += AHEAD_S + 1  # the clock caught up: ids again, after the borrowed ones
    assert one.next() > drawn[-1]


def test_no_ids_without_a_live_lease():
    ids = OrderIds()
    with pytest.raises(OrderIdsUnavailable):
        ids.next()
    ids.hold(7, time.monotonic() - 1)  # a lease no longer sure to be alive
    with pytest.raises(OrderIdsUnavailable):
        ids.next()
    ids.hold(7, time.monotonic() + 10)
    assert (ids.next() >> 12) & 1023 == 7


def test_verified_tokens_are_remembered_only_as_the_exact_string_and_only_until_they_expire():
    tokens = VerifiedTokens(DEV_SECRET, size=2)
    good = issue_token(DEV_SECRET, "acct", "user", 60)
    assert tokens.read(good)["sub"] == "acct"
    head, payload, signature = good.split(".")
    assert tokens.read(f"{head}.{payload}.{signature[:-2]}AA") is None  # a changed signature is checked anew
    forged = jwt.encode({"sub": "other", "iat": int(time.time()), "exp": int(time.time()) + 60}, "x" * 40, "HS256")
    assert tokens.read(forged) is None and tokens.read(forged) is None  # refusals are never remembered
    brief = issue_token(DEV_SECRET, "acct", "user", 1)
    assert tokens.read(brief)["sub"] == "acct"
    time.sleep(2.1)
    assert tokens.read(brief) is None  # remembered, but expired now
    for account in ("a", "b", "c"):  # the oldest goes when full
        tokens.read(issue_token(DEV_SECRET, account, "user", 60))
    assert len(tokens._claims) == 2


def test_a_sign_out_voids_the_accounts_tokens_issued_before_it_and_no_others():
    def claims_of(account: str) -> dict:
        return read_token(DEV_SECRET, issue_token(DEV_SECRET, account, "user", 60))

    before = claims_of("ana")
    cutoff = before["ms"] + 1
    time.sleep(0.002)
    after, bo = claims_of("ana"), claims_of("bo")
    sign_outs = {"ana": {"account": "ana", "before_ms": cutoff, "reason": "signed_out"}}
    assert signed_out(before, sign_outs) and not signed_out(after, sign_outs) and not signed_out(bo, sign_outs)
    assert not signed_out(before, {})
    legacy = {"sub": "ana", "iat": before["iat"] - 1, "exp": before["exp"]}  # issued before tokens carried `ms`
    assert signed_out(legacy, sign_outs)
