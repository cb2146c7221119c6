"""Who may use the dashboard: the owner's password, server-side sessions, and a login rate limit.

Everything here is pure state with an injected monotonic clock, so expiry and lockouts are tested
without waiting. The password hash lives in the ledger's ``meta`` table (key ``web.password``):
it is as precious as a grant, and the ledger survives a power cut.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.store.sqlite import transaction

PASSWORD_KEY = "web.password"  # noqa: S105 - the meta key under which the hash is kept
MIN_PASSWORD_LENGTH = 10

# scrypt at n=2**14, r=8, p=1 takes 16 MB and ~50 ms on a dev core (~250 ms on a Pi 4): slow for a
# guesser, bearable for a login that also sits behind the rate limit.
_N, _R, _P = 2**14, 8, 1

Clock = Callable[[], float]


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """An encoded scrypt hash of ``password`` (``scrypt$n$r$p$salt$hash``) with a fresh salt."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    """True if ``password`` matches the ``hash_password`` output ``encoded``."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def stored_hash(ledger: sqlite3.Connection) -> str | None:
    """The owner's password hash from the ledger, or None if none was ever set."""
    row = ledger.execute("SELECT value FROM meta WHERE key = ?", (PASSWORD_KEY,)).fetchone()
    return None if row is None else str(row[0])


def store_hash(ledger: sqlite3.Connection, encoded: str) -> None:
    """Replace the owner's password hash in the ledger."""
    with transaction(ledger, immediate=True):
        ledger.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (PASSWORD_KEY, encoded),
        )


def new_token() -> str:
    """A random, URL-safe secret (session ids, CSRF tokens)."""
    return secrets.token_urlsafe(32)


def same_token(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a token from a request with the expected one; empty never matches."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


@dataclass(slots=True)
class Session:
    """One logged-in browser: its id (the cookie), its CSRF token, when it began and was last used.

    ``password`` is the hash that was current at login: a new password ends every older session.
    """

    id: str
    csrf: str
    created: float
    seen: float = field(default=0.0)
    password: str = ""


class Sessions:
    """Server-side sessions with an idle and an absolute expiry; at most ``limit`` at once."""

    def __init__(
        self, *, idle_s: float, max_s: float, clock: Clock = time.monotonic, limit: int = 64
    ) -> None:
        self.idle_s = idle_s
        self.max_s = max_s
        self.clock = clock
        self.limit = limit
        self._by_id: OrderedDict[str, Session] = OrderedDict()

    def create(self, password: str = "") -> Session:
        """Start a session under the ``password`` hash (the oldest one ends if ``limit`` are open)."""
        now = self.clock()
        session = Session(new_token(), new_token(), now, now, password)
        self._by_id[session.id] = session
        while len(self._by_id) > self.limit:
            self._by_id.popitem(last=False)
        return session

    def get(
        self, session_id: str | None, *, touch: bool = True, password: str | None = None
    ) -> Session | None:
        """The live session with ``session_id`` (extending its idle time if ``touch``), else None.

        With ``password`` (the current hash), a session begun under another password is ended.
        """
        if not session_id:
            return None
        session = self._by_id.get(session_id)
        if session is None:
            return None
        now = self.clock()
        expired = now - session.seen > self.idle_s or now - session.created > self.max_s
        if expired or (password is not None and password != session.password):
            del self._by_id[session_id]
            return None
        if touch:
            session.seen = now
            self._by_id.move_to_end(session_id)
        return session

    def end(self, session_id: str | None) -> None:
        """End a session (logout); ending an unknown one does nothing."""
        if session_id:
            self._by_id.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._by_id)


@dataclass(slots=True)
class _Attempts:
    failures: int = 0
    lockouts: int = 0
    locked_until: float = 0.0


class LoginLimiter:
    """Per client address: ``threshold`` wrong passwords in a row lock it out, each lockout twice as long.

    The first lockout lasts ``base_s`` and later ones double up to ``cap_s``; a right password clears
    the address. The table holds at most ``limit`` addresses (the least recently seen are forgotten).
    """

    def __init__(
        self,
        *,
        threshold: int = 5,
        base_s: float = 30.0,
        cap_s: float = 3600.0,
        clock: Clock = time.monotonic,
        limit: int = 1024,
    ) -> None:
        self.threshold = threshold
        self.base_s = base_s
        self.cap_s = cap_s
        self.clock = clock
        self.limit = limit
        self._by_addr: OrderedDict[str, _Attempts] = OrderedDict()

    def locked_for(self, addr: str) -> float:
        """Seconds until ``addr`` may try again (0 when it may try now)."""
        attempts = self._by_addr.get(addr)
        if attempts is None:
            return 0.0
        return max(0.0, attempts.locked_until - self.clock())

    def failed(self, addr: str) -> None:
        """Count a wrong password from ``addr``; lock it out at the threshold."""
        attempts = self._by_addr.pop(addr, None) or _Attempts()
        self._by_addr[addr] = attempts
        while len(self._by_addr) > self.limit:
            self._by_addr.popitem(last=False)
        attempts.failures += 1
        if attempts.failures >= self.threshold:
            attempts.failures = 0
            attempts.lockouts += 1
            delay = min(self.cap_s, self.base_s * 2 ** (attempts.lockouts - 1))
            attempts.locked_until = self.clock() + delay

    def succeeded(self, addr: str) -> None:
        """Forget ``addr``'s failures after a right password."""
        self._by_addr.pop(addr, None)
