"""Browser sessions for the desk: a signed login (the REST API's HMAC scheme) opens one.

A session is a random token in an ``HttpOnly; SameSite=Strict; Path=/`` cookie plus a CSRF
token the desk keeps in memory (never the API secret). A request that carries the cookie must
carry the CSRF token in ``X-CSRF-Token`` too, so a page of another origin cannot use the cookie
(it cannot read the token, and Strict keeps the cookie off cross-site requests anyway). A
session ends at sign-out, when the operator revokes it, after ``idle`` seconds unused, or
``lifetime`` seconds after it began, whichever comes first. Sessions are gateway state in
memory: a restart signs every browser out (they sign in again with their key).
"""

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable

import msgspec

from gateway.auth import ApiKey, AuthError

COOKIE = "commex_session"
CSRF_HEADER = "x-csrf-token"
IDLE_SECONDS = 30 * 60
LIFETIME_SECONDS = 12 * 3600
MAX_SESSIONS = 10_000  # at once, all members; beyond: the least recently used one is ended
MAX_PER_KEY = 32  # per API key; beyond: that key's least recently used session is ended


class SessionView(msgspec.Struct):
    """A session as its member or the operator sees it (never its cookie or CSRF token)."""

    session_id: str
    member: str
    api_key: str
    roles: list[str]
    created_ms: int
    last_seen_ms: int
    expires_ms: int
    client_ip: str = ""
    user_agent: str = ""


class SignedIn(msgspec.Struct):
    """The answer to a sign-in: the session, and the CSRF token to send with every request."""

    session: SessionView
    csrf_token: str


class Revoked(msgspec.Struct):
    session_id: str
    revoked: bool


class Session:
    __slots__ = ("session_id", "token_digest", "csrf", "key", "created", "last_seen", "client_ip", "user_agent")

    def __init__(self, key: ApiKey, now: float, client_ip: str, user_agent: str) -> None:
        self.session_id = "s_" + secrets.token_hex(8)
        self.token_digest = b""
        self.csrf = secrets.token_urlsafe(32)
        self.key, self.created, self.last_seen = key, now, now
        self.client_ip, self.user_agent = client_ip[:64], user_agent[:200]


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Sessions:
    """The open sessions, by the digest of their cookie token."""

    def __init__(self, idle: float | None = None, lifetime: float | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.idle = idle if idle is not None else float(os.environ.get("COMMEX_SESSION_IDLE_S", IDLE_SECONDS))
        self.lifetime = lifetime if lifetime is not None else \
            float(os.environ.get("COMMEX_SESSION_LIFETIME_S", LIFETIME_SECONDS))
        self.clock = clock
        self._by_digest: dict[bytes, Session] = {}
        self.on_end: list[Callable[[str], None]] = []  # called with the session id of each ended session

    def __len__(self) -> int:
        return len(self._by_digest)

    def expires(self, s: Session) -> float:
        return min(s.last_seen + self.idle, s.created + self.lifetime)

    def open(self, key: ApiKey, client_ip: str = "", user_agent: str = "") -> tuple[str, Session]:
        """A new session for ``key``: (the cookie token, the session)."""
        now = self.clock()
        self.prune(now)
        mine = [s for s in self._by_digest.values() if s.key.api_key == key.api_key]
        if len(mine) >= MAX_PER_KEY:
            self.end(min(mine, key=lambda s: s.last_seen))
        if len(self._by_digest) >= MAX_SESSIONS:
            self.end(min(self._by_digest.values(), key=lambda s: s.last_seen))
        token = secrets.token_urlsafe(32)
        session = Session(key, now, client_ip, user_agent)
        session.token_digest = _digest(token)
        self._by_digest[session.token_digest] = session
        return token, session

    def check(self, token: str, csrf: str | None) -> Session:
        """The live session of cookie ``token`` whose CSRF token is ``csrf``, or AuthError:
        401 SESSION_EXPIRED (unknown, ended or expired), 403 CSRF_TOKEN_MISSING / CSRF_TOKEN_INVALID."""
        now = self.clock()
        session = self._by_digest.get(_digest(token))
        if session is None or self.expires(session) <= now:
            if session is not None:
                self.end(session)
            raise AuthError(401, "SESSION_EXPIRED", "the session has ended or expired: sign in again")
        if not csrf:
            raise AuthError(403, "CSRF_TOKEN_MISSING", "a request with the session cookie needs X-CSRF-Token")
        if not hmac.compare_digest(csrf.encode(), session.csrf.encode()):
            raise AuthError(403, "CSRF_TOKEN_INVALID", "X-CSRF-Token does not belong to this session")
        session.last_seen = now
        return session

    def touch(self, session: Session) -> bool:
        """Keep ``session`` alive for another request (a WebSocket order message, whose socket
        the cookie opened); False if it has ended or expired (``end`` it then)."""
        now = self.clock()
        if self._by_digest.get(session.token_digest) is not session or self.expires(session) <= now:
            return False
        session.last_seen = now
        return True

    def close(self, token: str) -> bool:
        """End the session of cookie ``token`` (sign-out); True if it was open."""
        session = self._by_digest.get(_digest(token))
        if session is None:
            return False
        self.end(session)
        return True

    def revoke(self, session_id: str) -> bool:
        """End the session named ``session_id`` (the operator); True if it was open."""
        for session in self._by_digest.values():
            if session.session_id == session_id:
                self.end(session)
                return True
        return False

    def list(self) -> list[SessionView]:
        """The open sessions, oldest first."""
        self.prune(self.clock())
        return [self.view(s) for s in sorted(self._by_digest.values(), key=lambda s: s.created)]

    def view(self, s: Session) -> SessionView:
        return SessionView(session_id=s.session_id, member=s.key.member, api_key=s.key.api_key,
                           roles=sorted(s.key.roles), created_ms=int(s.created * 1000),
                           last_seen_ms=int(s.last_seen * 1000), expires_ms=int(self.expires(s) * 1000),
                           client_ip=s.client_ip, user_agent=s.user_agent)

    def prune(self, now: float) -> None:
        for session in [s for s in self._by_digest.values() if self.expires(s) <= now]:
            self.end(session)

    def end(self, session: Session) -> None:
        """End ``session`` (signed out, revoked, replaced or expired): its WebSocket connections
        are closed (``on_end``)."""
        if self._by_digest.pop(session.token_digest, None) is not None:
            for callback in self.on_end:
                callback(session.session_id)
