"""Configuration from the environment (docs/configuration.md lists every name)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from scimd.store.db import normalize_url

DIALECTS = ("rfc", "slack")
DEFAULT_DATABASE_URL = "sqlite:///./scimd.db"
PLANS = ("free", "pro", "business_plus", "enterprise")


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    base_url: str | None = None
    bootstrap_token: str | None = None
    bootstrap_dialect: str = "slack"
    bootstrap_plan: str = "enterprise"
    default_dialect: str = "slack"
    pool_size: int = 10
    log_level: str = "info"
    trusted_proxies: tuple[str, ...] = ()
    """Peers whose ``X-Forwarded-For`` is believed (``SCIMD_TRUSTED_PROXIES``, CIDRs)."""
    allow_private_ips: bool = False
    """Whether token allowlists may name private ranges (``SCIMD_ALLOW_PRIVATE_IPS``)."""
    rate_limits: bool = True
    """Slack's rate limits (``SCIMD_RATE_LIMITS=off`` for a sandbox)."""
    rate_limit_window: float = 60.0
    """Seconds of the limits' window (``SCIMD_RATE_LIMIT_WINDOW``; Slack's is a minute)."""
    rate_limit_buckets: str = ""
    """Overrides, ``SCIMD_RATE_LIMIT_BUCKETS=writes=600/180,...`` (limit/burst)."""
    redis_url: str | None = None
    """``SCIMD_REDIS_URL``: shared counters and locks for several processes."""
    redis_prefix: str = "scimd"
    """``SCIMD_REDIS_PREFIX``: prefix of every Redis key scimd writes."""
    group_commit: bool = True
    """SQLite: the writes of concurrent requests share one transaction and one ``fsync``
    (``SCIMD_GROUP_COMMIT=off``: one each; docs/configuration.md)."""
    lock_wait: float = 5.0
    """Seconds an ``rfc`` write waits for a resource's lock (``SCIMD_LOCK_WAIT``)."""
    max_body_bytes: int = 8 * 1024 * 1024
    """Largest request body; more is 413 ``request_too_large`` (``SCIMD_MAX_BODY_BYTES``)."""
    request_timeout: float = 30.0
    """Seconds before a waiting request is answered 503 (``SCIMD_REQUEST_TIMEOUT``; 0: no
    limit; docs/operations.md, "Time per request")."""
    shutdown_grace: float = 20.0
    """Seconds in-flight requests may take to finish after SIGTERM (``SCIMD_SHUTDOWN_GRACE``)."""
    metrics: str = "on"
    """``SCIMD_METRICS``: ``on`` (open), ``off`` (no ``/metrics``) or ``token:<secret>``."""
    access_log: bool = True
    """One JSON line per request on stdout (``SCIMD_ACCESS_LOG=off`` to silence it)."""
    webhooks: bool = True
    """Deliver webhooks from this process (``SCIMD_WEBHOOKS=off`` leaves it to others)."""
    deprovision_guard: bool = True
    """The mass-deprovision guard (``SCIMD_DEPROVISION_GUARD=off`` disables it)."""
    guard_window: float = 600.0
    """Sliding window of the guard, seconds (``SCIMD_GUARD_WINDOW``)."""
    guard_minimum: int = 20
    """Deactivations always allowed in a window (``SCIMD_GUARD_MINIMUM``)."""
    guard_percent: float = 10.0
    """Or this share of the tenant's active users, if larger (``SCIMD_GUARD_PERCENT``)."""
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Settings:
        s = cls(
            database_url=_env("SCIMD_DATABASE_URL", DEFAULT_DATABASE_URL) or DEFAULT_DATABASE_URL,
            base_url=(_env("SCIMD_BASE_URL") or "").rstrip("/") or None,
            bootstrap_token=_env("SCIMD_BOOTSTRAP_TOKEN"),
            bootstrap_dialect=_env("SCIMD_BOOTSTRAP_DIALECT", "slack") or "slack",
            bootstrap_plan=_env("SCIMD_BOOTSTRAP_PLAN", "enterprise") or "enterprise",
            default_dialect=_env("SCIMD_DEFAULT_DIALECT", "slack") or "slack",
            pool_size=int(_env("SCIMD_POOL_SIZE", "10") or 10),
            log_level=_env("SCIMD_LOG_LEVEL", "info") or "info",
            trusted_proxies=tuple(p.strip() for p in (_env("SCIMD_TRUSTED_PROXIES") or "")
                                  .split(",") if p.strip()),
            allow_private_ips=_flag(_env("SCIMD_ALLOW_PRIVATE_IPS")),
            rate_limits=(_env("SCIMD_RATE_LIMITS", "on") or "on").lower()
            not in ("off", "0", "false", "no"),
            rate_limit_window=float(_env("SCIMD_RATE_LIMIT_WINDOW", "60") or 60),
            rate_limit_buckets=_env("SCIMD_RATE_LIMIT_BUCKETS", "") or "",
            redis_url=_env("SCIMD_REDIS_URL"),
            redis_prefix=_env("SCIMD_REDIS_PREFIX", "scimd") or "scimd",
            group_commit=(_env("SCIMD_GROUP_COMMIT", "on") or "on").lower()
            not in ("off", "0", "false", "no"),
            lock_wait=float(_env("SCIMD_LOCK_WAIT", "5") or 5),
            max_body_bytes=int(_env("SCIMD_MAX_BODY_BYTES", str(8 * 1024 * 1024)) or 0),
            request_timeout=float(_env("SCIMD_REQUEST_TIMEOUT", "30") or 0),
            shutdown_grace=float(_env("SCIMD_SHUTDOWN_GRACE", "20") or 0),
            metrics=_env("SCIMD_METRICS", "on") or "on",
            access_log=(_env("SCIMD_ACCESS_LOG", "on") or "on").lower()
            not in ("off", "0", "false", "no"),
            webhooks=(_env("SCIMD_WEBHOOKS", "on") or "on").lower()
            not in ("off", "0", "false", "no"),
            deprovision_guard=(_env("SCIMD_DEPROVISION_GUARD", "on") or "on").lower()
            not in ("off", "0", "false", "no"),
            guard_window=float(_env("SCIMD_GUARD_WINDOW", "600") or 600),
            guard_minimum=int(_env("SCIMD_GUARD_MINIMUM", "20") or 20),
            guard_percent=float(_env("SCIMD_GUARD_PERCENT", "10") or 10),
        )
        s.validate()
        return s

    def validate(self) -> None:
        from scimd.auth.addresses import parse_networks

        try:
            parse_networks(self.trusted_proxies)
        except ValueError as exc:
            raise ValueError(f"SCIMD_TRUSTED_PROXIES: {exc}") from None
        for name, value in (("SCIMD_BOOTSTRAP_DIALECT", self.bootstrap_dialect),
                            ("SCIMD_DEFAULT_DIALECT", self.default_dialect)):
            if value not in DIALECTS:
                raise ValueError(f"{name} must be one of {', '.join(DIALECTS)}, not {value!r}")
        from scimd.limits.rates import parse_overrides

        parse_overrides(self.rate_limit_buckets, self.rate_limit_window)
        if self.rate_limit_window <= 0:
            raise ValueError("SCIMD_RATE_LIMIT_WINDOW must be positive")
        if self.bootstrap_plan not in PLANS:
            raise ValueError(f"SCIMD_BOOTSTRAP_PLAN must be one of {', '.join(PLANS)}")
        if self.max_body_bytes <= 0:
            raise ValueError("SCIMD_MAX_BODY_BYTES must be positive")
        if self.request_timeout < 0 or self.shutdown_grace < 0:
            raise ValueError("SCIMD_REQUEST_TIMEOUT and SCIMD_SHUTDOWN_GRACE cannot be negative")
        if self.metrics not in ("on", "off") and not (self.metrics.startswith("token:")
                                                    and self.metrics[6:].strip()):
            raise ValueError("SCIMD_METRICS must be on, off or token:<secret>")

    @property
    def guard_settings(self):
        from scimd.directory.guard import GuardSettings

        return GuardSettings(self.deprovision_guard, self.guard_window, self.guard_minimum,
                             self.guard_percent)

    @property
    def trusted_networks(self) -> list:
        from scimd.auth.addresses import parse_networks

        return parse_networks(self.trusted_proxies)

    @property
    def sqlalchemy_url(self) -> str:
        return normalize_url(self.database_url)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
