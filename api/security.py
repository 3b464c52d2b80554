"""Passwords, tokens and the brake on guessing.

- Passwords: scrypt (n=2^14, r=8, p=1, 16-byte salt), about 50 ms a hash, stored as
  `scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>` so the cost can be raised later.
- Tokens: JWT signed with HS256 only (the algorithm is pinned when decoding, so `none` or an
  asymmetric algorithm in a forged header is refused), with an expiry and the account id as `sub`.
  A password change or a sign-out voids every token of the account issued before it, in every
  API process and hub, through the compacted topic exchange.sign-outs (`signed_out`).
- Logins: after 5 failures for one email, or 50 from one client address, within 5 minutes,
  further attempts get 429 until the window passes (an address may be a whole office). An attempt
  counts as a failure from the moment it starts, until its password proves right: guesses sent
  all at once are checked against the same count as guesses sent one by one.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections import defaultdict, deque

import jwt

from exchange.config import ConfigError, Settings

ALGORITHM = "HS256"
DEV_SECRET = "development-only-secret-never-use-in-production-0123456789"
MIN_SECRET_BYTES = 32
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def jwt_secret(settings: Settings) -> str:
    """The signing secret; outside development it must be set and strong, or nothing starts."""
    secret = settings.jwt_secret
    if settings.is_production:
        if len(secret.encode()) < MIN_SECRET_BYTES or secret == DEV_SECRET:
            raise ConfigError(f"JWT_SECRET must be set to at least {MIN_SECRET_BYTES} random bytes in production "
                              "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)")
        return secret
    return secret or DEV_SECRET


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        actual = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                                dklen=len(digest) // 2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual.hex(), digest)


def issue_token(secret: str, account: str, role: str, ttl_s: int) -> str:
    now_ms = int(time.time() * 1000)
    now = now_ms // 1000
    # `ms`: when it was issued to the millisecond, so a token issued just after a sign-out, in
    # the same second, still counts as after it.
    return jwt.encode({"sub": account, "role": role, "iat": now, "exp": now + ttl_s, "ms": now_ms,
                       "jti": secrets.token_hex(8)}, secret, algorithm=ALGORITHM)


def issued_ms(claims: dict) -> int:
    ms = claims.get("ms")
    return ms if isinstance(ms, int) else claims["iat"] * 1000  # tokens from before `ms` existed


def signed_out(claims: dict, sign_outs: dict[str, dict]) -> bool:
    """Whether the token was issued before its account's latest sign-out (exchange.SignOut)."""
    cutoff = sign_outs.get(claims["sub"])
    return cutoff is not None and issued_ms(claims) < cutoff["before_ms"]


def read_token(secret: str, token: str) -> dict | None:
    """The token's claims, or None if it is forged, expired or malformed."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp", "iat"]})
    except jwt.PyJWTError:
        return None
    return claims if isinstance(claims.get("sub"), str) else None


class VerifiedTokens:
    """Tokens already verified, so a trader's hundredth request skips the signature check.

    Checking a token is about 15 % of the API's CPU per order. A token is the exact string that
    was verified, so nothing but that token finds its entry; its claims are good until `exp`,
    which is still checked at every use. At most `size` tokens are kept (the oldest go first).
    """

    def __init__(self, secret: str, size: int = 10_000) -> None:
        self.secret, self.size = secret, size
        self._claims: dict[str, dict] = {}  # insertion-ordered: the first key is the oldest

    def read(self, token: str) -> dict | None:
        claims = self._claims.get(token)
        if claims is not None:
            if claims["exp"] > time.time():
                return claims
            del self._claims[token]
        claims = read_token(self.secret, token)
        if claims is not None:
            if len(self._claims) >= self.size:
                del self._claims[next(iter(self._claims))]
            self._claims[token] = claims
        return claims


class LoginBrake:
    """Counts failed logins per key (`email:...`, `client:...`) in a sliding window."""

    LIMITS = {"email": 5, "client": 50}

    def __init__(self, window_s: float = 300.0) -> None:
        self.window_s = window_s
        self._failures: dict[str, deque] = defaultdict(deque)

    def _limit(self, key: str) -> int:
        return self.LIMITS.get(key.partition(":")[0], 5)

    def _recent(self, key: str) -> deque:
        failures = self._failures[key]
        cutoff = time.monotonic() - self.window_s
        while failures and failures[0] < cutoff:
            failures.popleft()
        return failures

    def attempt(self, *keys: str) -> float:
        """Seconds to wait if a key is blocked (the attempt is refused); otherwise 0, and the
        attempt counts as failed until `succeeded` says otherwise. Counting before the slow
        password check is what stops concurrent guesses: each one in flight is already counted."""
        wait = self.blocked(*keys)
        if not wait:
            self.failed(*keys)
        return wait

    def blocked(self, *keys: str) -> float:
        """Seconds until a blocked key may try again; 0 if none is blocked."""
        waits = [self._recent(k)[0] + self.window_s - time.monotonic() for k in keys
                 if len(self._recent(k)) >= self._limit(k)]
        return max(waits, default=0.0)

    def failed(self, *keys: str) -> None:
        for key in keys:
            self._recent(key).append(time.monotonic())

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)
