"""Who may use the admin surface: the hashed admin password, the session, login throttling, the API token."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from flask import Request, session

from bridge.clock import utcnow
from bridge.config import Settings
from bridge.errors import ConfigError

MAX_FAILED_LOGINS = 5
FAILED_LOGIN_WINDOW = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=8)  # a working day; then the admin logs in again
PAGE_ACTOR = "admin"  # one shared password, so one name for everyone who logs in with it
API_ACTOR = "api"
KEY_FILE_SUFFIX = ".secret-key"
_ACTOR_NAME = re.compile(r"[^\w .@+-]")  # what an X-Bridge-Actor name may keep (word chars include 漢字)


@dataclass(frozen=True)
class PasswordHash:
    """The admin password as a salted scrypt digest; the plain text is not kept after start-up."""

    salt: bytes
    digest: bytes

    @classmethod
    def of(cls, password: str) -> PasswordHash:
        salt = secrets.token_bytes(16)
        return cls(salt, _scrypt(password, salt))

    def matches(self, candidate: str) -> bool:
        return hmac.compare_digest(_scrypt(candidate, self.salt), self.digest)


def _scrypt(password: str, salt: bytes) -> bytes:
    # n=2**14, r=8: about 16 MB and a few tens of milliseconds per guess; enough behind the rate limit
    return hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)


@dataclass
class AdminAccess:
    """What the admin blueprints check on every request, built once by init_admin."""

    password: PasswordHash | None  # None: BRIDGE_ADMIN_PASSWORD unset, the pages answer 503
    session_mark: str | None  # stored in the session at login; changes when the password changes
    api_token: str | None
    clock: Callable[[], datetime] = field(default=utcnow)

    @classmethod
    def from_settings(cls, settings: Settings, secret_key: str | None,
                      clock: Callable[[], datetime] = utcnow) -> AdminAccess:
        password, mark = None, None
        if settings.admin_password and secret_key:
            password = PasswordHash.of(settings.admin_password)
            # Deterministic across workers, so any worker accepts the session; a new password
            # gives a new mark, which logs everyone out.
            mark = hmac.new(secret_key.encode(), b"bridge-admin\0" + settings.admin_password.encode(),
                            hashlib.sha256).hexdigest()
        return cls(password=password, session_mark=mark, api_token=settings.api_token, clock=clock)

    # -- pages ------------------------------------------------------------------------------
    def logged_in(self) -> bool:
        mark = session.get("admin")
        return bool(self.session_mark and isinstance(mark, str)
                    and hmac.compare_digest(mark, self.session_mark))

    def start_session(self) -> None:
        """A fresh session at login: nothing from before it (an old CSRF token included) survives."""
        session.clear()
        session.permanent = True
        session["admin"] = self.session_mark

    def blocked(self, failures: int) -> bool:
        return failures >= MAX_FAILED_LOGINS

    def window_start(self) -> datetime:
        return self.clock() - FAILED_LOGIN_WINDOW



def client_address(request: Request) -> str:
    """The address failed logins are counted against: the client's, once BRIDGE_PROXIES says how many
    reverse proxies stand in front (otherwise every request seems to come from the proxy)."""
    return request.remote_addr or "unknown"


def api_actor(request: Request) -> str:
    """'api', or 'api:<name>' from X-Bridge-Actor, so the history says who used the token."""
    name = _ACTOR_NAME.sub("", request.headers.get("X-Bridge-Actor", "")).strip()[:64]
    return f"{API_ACTOR}:{name}" if name else API_ACTOR


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
