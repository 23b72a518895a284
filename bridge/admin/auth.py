"""Who may use the admin surface: the hashed admin password, server-side sessions, login throttling, the API actor."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
import tempfile
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path
from urllib.parse import unquote

from flask import Request, g, session

from bridge.config import Settings
from bridge.kernel.clock import parse_iso, utcnow
from bridge.kernel.errors import ConfigError
from bridge.store import Store

MAX_FAILED_LOGINS = 5  # per client address
# All clients together: an attacker rotating addresses cannot keep the CPU busy with scrypt (100 checks are
# seconds of CPU per window) nor guess fast; admins already logged in are not affected.
MAX_FAILED_LOGINS_ALL = 100
FAILED_LOGIN_WINDOW = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=8)  # from login, however active: a working day; then the admin logs in again
# Without a request for this long a session ends: long enough to edit a mapping file without being thrown
# out mid-edit, short enough that a browser left open overnight does not stay logged in.
SESSION_IDLE = timedelta(hours=2)
SESSION_TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often: not on every request
SESSION_ID = "sid"  # the cookie's one credential: a random id, never anything derived from the password
PAGE_ACTOR = "admin"  # one shared password, so one name for everyone who logs in with it
API_ACTOR = "api"
KEY_FILE_SUFFIX = ".secret-key"
_ACTOR_NAME = re.compile(r"[^\w .@+-]")  # what an X-Bridge-Actor name may keep (word chars include 漢字)
# RFC 8187 ext-value: charset'language'percent-encoded, e.g. UTF-8''%E7%94%B0%E4%B8%AD
_EXT_VALUE = re.compile(r"(?P<charset>[A-Za-z0-9!#$&+^_`{}~-]+)'[A-Za-z0-9-]*'(?P<text>.*)", re.S)
_EXT_CHARSETS = {"utf-8": "utf-8", "iso-8859-1": "latin-1"}  # the two RFC 8187 requires or allows


@dataclass(frozen=True)
class ScryptCost:
    """scrypt's work factors; the defaults are production's: about 16 MB and a few tens of milliseconds per guess."""

    n: int = 2**14
    r: int = 8
    p: int = 1


#: The cost every password check pays. Only the admin tests lower it (tests/admin/conftest.py), so a test
#: login costs microseconds; the checks themselves are the same code.
SCRYPT_COST = ScryptCost()


@dataclass(frozen=True)
class PasswordHash:
    """The admin password as a salted scrypt digest; the plain text is not kept after start-up."""

    salt: bytes
    digest: bytes

    @classmethod
    def of(cls, password: str, salt: bytes) -> PasswordHash:
        return cls(salt, _scrypt(password, salt))

    def matches(self, candidate: str) -> bool:
        return hmac.compare_digest(_scrypt(candidate, self.salt), self.digest)

    def generation(self) -> str:
        """A marker of this password, stored with each session (never sent to a browser): a new password
        gives a new marker, which ends every session. Guessing the password from it costs a scrypt per guess."""
        return hashlib.sha256(b"bridge-admin-generation\0" + self.digest).hexdigest()


def _scrypt(password: str, salt: bytes) -> bytes:
    cost = SCRYPT_COST
    return hashlib.scrypt(password.encode(), salt=salt, n=cost.n, r=cost.r, p=cost.p, dklen=32)


class Login(Enum):
    """The outcome of one login attempt."""

    OK = "ok"
    WRONG = "wrong"
    PAUSED = "paused"  # too many failures from this client: the password was not checked
    PAUSED_FOR_ALL = "paused_for_all"  # too many failures from all clients together: not checked either


class SessionState(Enum):
    """Whether the request's cookie names a live session, and if not, why (for the message on the login form)."""

    ACTIVE = "active"
    NONE = "none"  # no session id in the cookie
    EXPIRED = "expired"  # past SESSION_LIFETIME after login, or SESSION_IDLE without a request
    ENDED = "ended"  # logged out (the row is gone), or the admin password changed


@dataclass
class AdminAccess:
    """What the admin blueprints check on every request, built once by init_admin."""

    password: PasswordHash | None  # None: BRIDGE_ADMIN_PASSWORD unset, the pages answer 503
    store: Store
    clock: Callable[[], datetime] = field(default=utcnow)

    @classmethod
    def from_settings(cls, settings: Settings, secret_key: str | None, store: Store,
                      clock: Callable[[], datetime] = utcnow) -> AdminAccess:
        password = None
        if settings.admin_password and secret_key:
            # The salt comes from the signing key, so every worker computes the same digest and so the same
            # generation marker (a random salt per process would log the admin out on every other worker).
            salt = hmac.new(secret_key.encode(), b"bridge-admin-password-salt", hashlib.sha256).digest()[:16]
            password = PasswordHash.of(settings.admin_password, salt)
        return cls(password=password, store=store, clock=clock)

    # -- logging in ---------------------------------------------------------------------------
    def try_password(self, candidate: str, client: str) -> Login:
        """Check a password unless the client (or everyone together) is over the failure limit.

        The attempt is counted and reserved in one database transaction before scrypt runs, so parallel
        guesses from threads or gunicorn workers get exactly MAX_FAILED_LOGINS checks. A wrong password
        leaves its reservation as a failure; the right one clears the client's failures.
        """
        assert self.password is not None  # the pages answer 503 without a password
        now = self.clock()
        attempt = self.store.admin.reserve_login_attempt(client, now, since=now - FAILED_LOGIN_WINDOW,
                                                   per_client=MAX_FAILED_LOGINS, overall=MAX_FAILED_LOGINS_ALL)
        if not attempt.reserved:
            return Login.PAUSED if attempt.client_failures >= MAX_FAILED_LOGINS else Login.PAUSED_FOR_ALL
        if not self.password.matches(candidate):
            return Login.WRONG
        self.store.admin.clear_login_failures(client)
        return Login.OK

    # -- sessions -----------------------------------------------------------------------------
    def start_session(self, client: str) -> None:
        """A fresh session at login: a new random id in the cookie, its hash in the database; nothing from
        before (an earlier session, an old CSRF token) survives."""
        assert self.password is not None
        self.end_session()
        session.permanent = True
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        self.store.admin.add_admin_session(_session_key(session_id), self.password.generation(), client, now,
                                     expires_at=now + SESSION_LIFETIME, idle_since=now - SESSION_IDLE)
        session[SESSION_ID] = session_id
        g.admin_session = SessionState.ACTIVE

    def end_session(self) -> None:
        """Log out: the session's row is deleted, so the same cookie replayed later is refused."""
        session_id = session.get(SESSION_ID)
        if isinstance(session_id, str):
            self.store.admin.end_admin_session(_session_key(session_id))
        session.clear()
        g.admin_session = SessionState.NONE

    def logged_in(self) -> bool:
        return self.session_state() is SessionState.ACTIVE

    def session_state(self) -> SessionState:
        """The request's session, looked up once per request."""
        if "admin_session" not in g:
            g.admin_session = self._check_session()
        return g.admin_session

    def _check_session(self) -> SessionState:
        session_id = session.get(SESSION_ID)
        if self.password is None or not isinstance(session_id, str):
            return SessionState.NONE
        key, now = _session_key(session_id), self.clock()
        row = self.store.admin.admin_session(key)
        if row is None:
            return SessionState.ENDED
        if not hmac.compare_digest(row["generation"], self.password.generation()):
            self.store.admin.end_admin_session(key)
            return SessionState.ENDED
        last_seen = parse_iso(row["last_seen_at"])
        if now >= parse_iso(row["expires_at"]) or now >= last_seen + SESSION_IDLE:
            self.store.admin.end_admin_session(key)
            return SessionState.EXPIRED
        if now - last_seen >= SESSION_TOUCH_EVERY:
            self.store.admin.touch_admin_session(key, now)
        return SessionState.ACTIVE


def _session_key(session_id: str) -> str:
    """What the database keeps of a session id: its SHA-256, so reading the table yields no usable cookie.
    (The id is 256 random bits, so a fast hash is enough; nothing can be guessed from it.)"""
    return hashlib.sha256(session_id.encode()).hexdigest()


def client_address(request: Request) -> str:
    """The address failed logins are counted against: the client's, once BRIDGE_PROXIES says how many
    reverse proxies stand in front (otherwise every request seems to come from the proxy)."""
    return request.remote_addr or "unknown"


def api_actor(request: Request) -> str:
    """'api', or 'api:<name>' from X-Bridge-Actor, so the history says who used the token.

    The name keeps its Unicode (`田中`) whether sent as raw UTF-8 or percent-encoded UTF-8 (`%E7%94%B0%E4%B8%AD`
    or RFC 8187's `UTF-8''%E7%94%B0%E4%B8%AD`); control characters and punctuation other than ` .@+-` are dropped.
    """
    name = _ACTOR_NAME.sub("", header_text(request.headers.get("X-Bridge-Actor", ""))).strip()[:64]
    return f"{API_ACTOR}:{name}" if name else API_ACTOR


def header_text(raw: str) -> str:
    """A header value as its sender wrote it, in NFKC form.

    WSGI hands header bytes over decoded as latin-1 (PEP 3333), so raw UTF-8 arrives as mojibake
    (`ç\\x94°ä¸\\xad` for 田中): it is re-encoded to its bytes and decoded as UTF-8 when that succeeds.
    Then percent-encoding, which any shell can type, is undone (https://www.rfc-editor.org/rfc/rfc8187).
    """
    try:
        text = raw.encode("latin-1").decode("utf-8")
    except UnicodeError:  # not latin-1 text (already decoded) or not UTF-8 bytes (meant as latin-1)
        text = raw
    encoding = "utf-8"
    extended = _EXT_VALUE.fullmatch(text)
    if extended and extended["charset"].lower() in _EXT_CHARSETS:
        text, encoding = extended["text"], _EXT_CHARSETS[extended["charset"].lower()]
    with contextlib.suppress(UnicodeDecodeError):  # not percent-encoded text after all: kept as sent
        text = unquote(text, encoding=encoding, errors="strict")
    return unicodedata.normalize("NFKC", text)


def session_secret(settings: Settings) -> str | None:
    """The key that signs session cookies: BRIDGE_SECRET_KEY, else a random key kept beside the database.

    A key drawn per process would break logins under gunicorn (each worker rejects the others'
    cookies), so the fallback is created once, stored with mode 0600 next to BRIDGE_DB, and shared
    by every worker on the host. Several hosts must set BRIDGE_SECRET_KEY to the same value.
    """
    if settings.secret_key:
        return settings.secret_key
    if not settings.admin_password:
        return None  # no admin pages, no sessions to sign
    path = settings.db_path.with_name(settings.db_path.name + KEY_FILE_SUFFIX)
    try:
        return _stored_secret(path)
    except OSError as error:
        raise ConfigError([
            f"BRIDGE_SECRET_KEY is not set and the fallback key file {path} cannot be used ({error}); "
            "set BRIDGE_SECRET_KEY (python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        ]) from error


def _stored_secret(path: Path) -> str:
    if not path.exists():
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(secrets.token_urlsafe(48) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temporary, path)  # atomic create-if-absent: the first worker's key wins
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    value = path.read_text(encoding="ascii").strip()
    if len(value) < 32:
        raise OSError(f"{path} holds no usable key; delete it to have a new one made")
    return value
