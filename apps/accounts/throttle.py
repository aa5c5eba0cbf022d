"""Login throttling per account *and* source, on top of django-allauth's rate limits.

allauth counts failed logins under a key it derives from the typed login. Ours adds the client
address (`account_and_source_key`), so five wrong passwords from one address slow down that
address only: the admin still logs in from anywhere else, and `manage.py createadmin` clears
every counter of the account (`unlock_account`). A per-address limit across all accounts
(``ACCOUNT_RATE_LIMITS["login_failed"]``) keeps one source from spraying many accounts.

Every failed and every throttled attempt is a structured security event on the `zks.security`
logger and an audit event. The typed login is never stored (people type passwords into it): logs
and audit rows carry the account id when the login names one, and a keyed digest otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time

import structlog
from allauth.core.internal import ratelimit as allauth_ratelimit
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.http import HttpRequest

from apps.core import audit

ALLAUTH_APP = "allauth.account"
LOGIN_FAILED = "login_failed"
security_log = structlog.get_logger("zks.security")


def client_ip(request: HttpRequest) -> str:
    """The caller's address as allauth's rate limits see it.

    X-Forwarded-For counts only with ALLAUTH_TRUSTED_PROXY_COUNT (env TRUSTED_PROXY_COUNT) or
    ALLAUTH_TRUSTED_CLIENT_IP_HEADER (env TRUSTED_CLIENT_IP_HEADER); IPv6 addresses count per /64.
    """
    return allauth_ratelimit.get_ip(request)


def normalize_login(login: str) -> str:
    """E-mail case variants and surrounding spaces name the same account."""
    return login.strip().lower()


def account_and_source_key(request: HttpRequest, login: str) -> str:
    login = normalize_login(login)
    return f"{login}|{_generation(login)}|{client_ip(request)}"


def login_digest(login: str) -> str:
    """A stable, keyed pseudonym of a typed login: correlates attempts without storing them."""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, normalize_login(login).encode(), hashlib.sha256).hexdigest()[:16]


def retry_after_seconds(request: HttpRequest, action: str, key: str | None = None) -> int:
    """Seconds until `action` is allowed again for this request (0 when it is allowed now)."""
    now = time.time()
    waits = [0.0]
    for rate in allauth_ratelimit.get_rates(app=ALLAUTH_APP, action=action):
        if rate.per == "key" and key is None:
            continue
        if rate.per == "user" and not request.user.is_authenticated:
            continue
        cache_key = allauth_ratelimit.get_cache_key(
            request, app=ALLAUTH_APP, action=action, rate=rate, key=key
        )
        # allauth keeps the hits newest first.
        live = [hit for hit in cache.get(cache_key, []) if hit > now - rate.duration]
        if len(live) >= rate.amount:
            waits.append(live[rate.amount - 1] + rate.duration - now)
    return math.ceil(max(waits))


def _account_id(login: str) -> int | None:
    user = get_user_model().objects.filter(email__iexact=normalize_login(login)).first()
    return user.pk if user is not None else None


def record_login_failed(request: HttpRequest, login: str) -> None:
    _record(request, "login.failed", login)


def record_code_failed(request: HttpRequest, account_id: int) -> None:
    """A wrong second-factor code (the password was right): allauth counts these per account."""
    _record_code_event(request, "login.code_failed", account_id)


def record_code_throttled(request: HttpRequest, account_id: int, retry_after: int) -> None:
    _record_code_event(request, "login.code_throttled", account_id, retry_after_seconds=retry_after)


def _record_code_event(request: HttpRequest, action: str, account_id: int, **extra: object) -> None:
    facts = {"source_ip": client_ip(request), "account_id": account_id, **extra}
    security_log.warning(action, security_event=True, path=request.path, **facts)
    audit.record(audit.actor_of_request(request), action, "account", account_id, after=facts)


def record_login_throttled(request: HttpRequest, login: str, retry_after: int) -> None:
    # Logged every time; audited once per account, source and cooldown, so a caller without
    # credentials cannot grow the audit table by hammering a throttled login.
    first = cache.add(
        f"zks:throttle-audited:{login_digest(account_and_source_key(request, login))}",
        True,
        timeout=max(retry_after, 1),
    )
    _record(request, "login.throttled", login, retry_after=retry_after, audited=first)


def _record(
    request: HttpRequest,
    action: str,
    login: str,
    *,
    retry_after: int | None = None,
    audited: bool = True,
) -> None:
    account_id = _account_id(login)
    facts: dict[str, object] = {
        "source_ip": client_ip(request),
        "account_id": account_id,
        "login_digest": None if account_id else login_digest(login),
    }
    if retry_after is not None:
        facts["retry_after_seconds"] = retry_after
    security_log.warning(action, security_event=True, path=request.path, **facts)
    if audited:
        audit.record("anonymous", action, "account", account_id or "", after=facts)


def _generation(login: str) -> int:
    return int(cache.get(f"zks:login-generation:{login_digest(login)}", 0))


def unlock_account(email: str) -> None:
    """Forget every failed-login counter of this account, from all sources, and of its MFA codes.

    The per-source counters cannot be listed (allauth stores them under hashed keys), so each
    account's key carries a generation number: raising it orphans all of them at once, and
    they expire on their own.
    """
    generation_key = f"zks:login-generation:{login_digest(email)}"
    cache.add(generation_key, 0, timeout=None)
    cache.incr(generation_key)
    user = get_user_model().objects.filter(email__iexact=normalize_login(email)).first()
    if user is None:
        return
    # allauth.mfa counts wrong codes per user under this key (mfa/base/internal/flows.py).
    for rate in allauth_ratelimit.get_rates(app=ALLAUTH_APP, action=LOGIN_FAILED):
        if rate.per == "key":
            cache.delete(
                allauth_ratelimit.get_cache_key(
                    HttpRequest(), app=ALLAUTH_APP, action=LOGIN_FAILED, rate=rate,
                    key=f"mfa-auth-user-{user.pk}",
                )
            )  # fmt: skip
