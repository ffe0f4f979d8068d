"""Settings: frozen, loaded from ``config/default.toml`` + an optional file + environment.

No module-level settings object exists: :func:`load_settings` returns one, and
:func:`evalsvc.app.create_app` receives it. Precedence (later wins):

1. the defaults of the dataclasses below (``config/default.toml`` documents them),
2. ``config/default.toml`` beside the package, when present,
3. the file named by ``--config`` or ``EVALSVC_CONFIG``,
4. environment variables ``EVALSVC_DATABASE_URL``, ``EVALSVC_HOST``, ``EVALSVC_PORT``,
   ``EVALSVC_TOKEN_SECRET_FILE``, ``EVALSVC_AUDIT_KEY_FILE``, ``EVALSVC_VAR_DIR``.
"""

from __future__ import annotations

__all__ = [
    "PROJECT_ROOT",
    "AuditSettings",
    "AuthSettings",
    "DatabaseSettings",
    "DrawSettings",
    "PkiSettings",
    "RealtimeSettings",
    "RulesSettings",
    "ScoringDefaults",
    "ServerSettings",
    "Settings",
    "load_settings",
]

import dataclasses
import datetime as dt
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from evalsvc.analysis import Thresholds, thresholds_problems
from evalsvc.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class DatabaseSettings:
    # SQLite file by default; ``postgresql://...`` for the scaled deployment.
    url: str = "sqlite:///var/evalsvc.db"
    # SQLite: WAL + synchronous=NORMAL survives a killed process (the WAL is in the OS
    # page cache); FULL also survives power loss at a cost in commit latency.
    sqlite_synchronous: str = "NORMAL"
    # Writes to SQLite go through one writer thread that commits a group of requests
    # at once (each in its own savepoint); this caps the group.
    sqlite_group_commit: int = 64
    # Threads for database reads.
    pool_size: int = 8
    # PostgreSQL: writer threads (a session's writes always go to the same one) and
    # how many requests one of them commits together (config/default.toml).
    pg_writers: int = 1
    pg_group_commit: int = 32


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 1_048_576
    # One log line per request (aiohttp's access log); off by default: it cost ~5 % of a
    # submission's CPU, and every state change is in the event log anyway.
    access_log: bool = False
    # CPython's GIL switch interval for `evalsvc serve` (default 5 ms in CPython): the
    # loop and the DB writer threads hand work back and forth on every request.
    gil_switch_interval_ms: int = 1
    # HTTPS: the server's certificate chain (PEM: leaf, then its intermediates) and its
    # key; both empty = plain HTTP. With TLS on, client certificates are asked for but
    # optional (venue agents present one, experts' browsers do not) and checked against
    # ``[pki] trust_dir`` (docs/pki.md "Mutual TLS between venues").
    tls_cert: str = ""
    tls_key: str = ""


@dataclass(frozen=True)
class AuthSettings:
    # HMAC secret for bearer tokens; created with mode 0600 on first use.
    token_secret_file: str = "var/token-secret"
    token_ttl_hours: int = 12
    # How often each instance reads the token deny list (`evalsvc tokens revoke`): a
    # revoked token is refused, and its open WebSockets closed, within this period.
    revocation_refresh_ms: int = 1000


@dataclass(frozen=True)
class AuditSettings:
    # Name of the log's Ed25519 key; each session's checkpoint origin is "<name>/<id>".
    log_name: str = "evalsvc.local"
    # Master secret (hex) from which each session log's Ed25519 key is derived; 0600.
    key_file: str = "var/audit-log.key"
    # New leaves are covered by a signed checkpoint at most this long after commit.
    checkpoint_interval_seconds: int = 1
    # Secondary venues as witnesses: venue id → the venue's witness verifier key
    # (Go note format, from `evalsvc audit keygen` at the venue). Venues listed here must
    # cosign each milestone checkpoint before the session moves on.
    witness_keys: dict[str, str] = field(default_factory=dict)
    # How many of a session's witnessing venues must cosign a milestone; 0 = all of them.
    quorum: int = 0
    # Seconds between attempts to collect missing cosignatures.
    witness_retry_seconds: int = 5


@dataclass(frozen=True)
class PkiSettings:
    """Certificate login and signed sheets (docs/pki.md "Certificate login over HTTP")."""

    # Regional trust stores: <trust_dir>/<REGION>/region.toml, anchors/, intermediates/, crls/.
    trust_dir: str = "certs"
    # Revocation for login (read-only access): soft-fail (warn, audited), require, or off.
    login_revocation: str = "soft-fail"
    # Revocation for signed sheets (signing actions): require refuses without a fresh CRL.
    signing_revocation: str = "require"
    # Lifetime of a login challenge and of the bearer token a certificate login yields.
    challenge_ttl_seconds: int = 120
    login_ttl_minutes: int = 60
    # The audience signed into challenges; empty: the origin the request came to.
    audience: str = ""
    # Minutes between CRL refreshes (crl_sources of every region.toml).
    crl_refresh_minutes: int = 30
    # Operators by certificate identity: "person:<ID number>=<venue id>, ..." (comma-separated).
    operator_venues: str = ""
    # Venue agents by venue certificate (mutual TLS or the signed "venue-agent" challenge):
    # "organisation:<USCC>=<venue id>, ..." (``org:`` is accepted for ``organisation:``).
    venue_agents: str = ""
    # How long a venue agent's authentication lasts: the token of a signed-challenge login,
    # and a mutual-TLS WebSocket before it must reconnect (and be validated again).
    venue_agent_ttl_seconds: int = 900


@dataclass(frozen=True)
class ScoringDefaults:
    """Defaults a session inherits when its creator does not say otherwise."""

    step: Decimal = Decimal("0.5")
    deviation_share: Decimal = Decimal("0.30")
    drop_extremes: bool = False
    price_formula: str = "lowest_price_ratio"


@dataclass(frozen=True)
class RealtimeSettings:
    """The session WebSocket's fan-out limits and cluster presence (docs/protocol.md)."""

    # Live frames queued for one connection before it counts as a slow consumer (a
    # replay on hello is not counted: the replay cap bounds it). Below the replay cap
    # (1000), so a client cut for a full queue can still resume by replay.
    queue_frames: int = 512
    # A send that blocks this long (the client stopped reading) makes it a slow consumer.
    send_timeout_seconds: int = 10
    # After the ``bye``, how long the client has to read up to the close frame before
    # the TCP connection is aborted.
    close_timeout_seconds: int = 5
    # TCP_NOTSENT_LOWAT of a session WebSocket (Linux, macOS): unsent bytes the kernel
    # takes before a send blocks. 0 = the kernel's default, where the autotuned send
    # buffer (up to net.ipv4.tcp_wmem, 4 MiB) hides thousands of frames from a stalled
    # client before a send ever blocks.
    tcp_notsent_lowat: int = 16384
    # Scaled deployment: each instance refreshes its presence heartbeat this often …
    presence_heartbeat_seconds: int = 2
    # … and the connections of an instance not heard of for this long are gone.
    presence_ttl_seconds: int = 6


@dataclass(frozen=True)
class DrawSettings:
    """Floors a primary operator cannot go below in a session's draw (docs/draw.md §6.2):
    the windows every party has to commit and reveal, the time an invited expert has to
    answer, and the alternates drawn per seat."""

    min_commit_window_seconds: int = 300
    min_reveal_window_seconds: int = 300
    min_invitation_timeout_seconds: int = 1800
    min_alternates: int = 2


@dataclass(frozen=True)
class ReportSettings:
    """The evaluation report (评标报告, docs/report.md)."""

    # 中标候选人 the committee recommends: the first N of the ranking, 1 to 3 (评标委员会和
    # 评标方法暂行规定 Art. 45). Part of the signed report: change it only between sessions.
    candidates: int = 3

    def __post_init__(self) -> None:
        if not 1 <= self.candidates <= 3:
            raise ConfigError(
                f"report.candidates: the committee recommends 1 to 3 candidates, got "
                f"{self.candidates}"
            )


@dataclass(frozen=True)
class RulesSettings:
    """How a session runs by the rules (docs/scoring.md): the integrity pledge, the
    leader election and the signing deadline."""

    # UTF-8 text of the pledge (承诺书); empty: the built-in text
    # (evalsvc/sessions/pledge.py). Its version is recorded with its SHA-256.
    pledge_file: str = ""
    pledge_version: str = "2026.1"
    # The tenderer's representatives (a session's tenderer_representative_seats) may
    # not be elected leader.
    leader_excludes_tenderer_representative: bool = True
    # After start_report, members have this long to sign or state a dissent; then the
    # committee may record a refusal, which a supervisor confirms as deemed agreement.
    sign_deadline_minutes: int = 30
    # After the seal each secondary venue hands these materials over to the primary
    # (交接), each item confirmed; not acknowledged within handover_days working days
    # (weekends and holidays excluded, workdays — 调休 weekend days — included; ISO
    # dates, China Standard Time), the handover.overdue alert is raised.
    handover_items: tuple[str, ...] = ("签字评审表", "承诺书", "回避声明")
    handover_days: int = 3
    holidays: tuple[str, ...] = ()
    workdays: tuple[str, ...] = ()
    # Venue link faults (docs/scoring.md "Faults by rule"), in minutes (fractions
    # allowed: tests run them in seconds): a secondary venue whose link — its agent and
    # all its experts' sockets — is gone this long pauses the session; a pause not
    # resumed within resume_deadline_minutes seals the materials and re-forms the
    # committee without the venue; a committee not evaluating again within
    # suspend_after_minutes of the pause suspends the session for a new date.
    # A link gone less than this is not lost (a reload, a reconnect); a lost one counts
    # from when it went.
    link_lost_grace_seconds: Decimal = Decimal("5")
    link_lost_pause_minutes: Decimal = Decimal("10")
    resume_deadline_minutes: Decimal = Decimal("120")
    suspend_after_minutes: Decimal = Decimal("240")

    def __post_init__(self) -> None:
        for name in ("link_lost_grace_seconds", "link_lost_pause_minutes",
                     "resume_deadline_minutes",
                     "suspend_after_minutes"):
            if getattr(self, name) < 0:
                raise ConfigError(f"rules.{name}: expected 0 or more")
        if self.suspend_after_minutes < self.resume_deadline_minutes:
            raise ConfigError(
                "rules.suspend_after_minutes: expected at least resume_deadline_minutes"
                f" ({self.resume_deadline_minutes}), got {self.suspend_after_minutes}")
        if self.handover_days < 0:
            raise ConfigError("rules.handover_days: expected 0 or more")
        if not self.handover_items:
            raise ConfigError("rules.handover_items: name at least one item")
        for name in ("holidays", "workdays"):
            for v in getattr(self, name):
                try:
                    dt.date.fromisoformat(v)
                except ValueError:
                    raise ConfigError(
                        f"rules.{name}: not a date (YYYY-MM-DD): {v!r}") from None


@dataclass(frozen=True)
class Settings:
    # (``alerts``: the pattern alerts' thresholds, evalsvc.analysis.Thresholds — a pure
    # dataclass, so the rules need not import the settings.)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    scoring: ScoringDefaults = field(default_factory=ScoringDefaults)
    audit: AuditSettings = field(default_factory=AuditSettings)
    pki: PkiSettings = field(default_factory=PkiSettings)
    realtime: RealtimeSettings = field(default_factory=RealtimeSettings)
    draw: DrawSettings = field(default_factory=DrawSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    alerts: Thresholds = field(default_factory=Thresholds)
    rules: RulesSettings = field(default_factory=RulesSettings)
    # Relative paths in the settings are resolved against this directory.
    var_dir: str = "var"

    def resolve(self, path: str) -> Path:
        """A settings path made absolute (relative paths: the working directory)."""
        return Path(path).expanduser().resolve()


def _build(cls: type[Any], data: Mapping[str, Any], where: str) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        f = known.get(key)
        if f is None:
            raise ConfigError(f"{where}: unknown setting {key!r} (known: {', '.join(known)})")
        default = getattr(cls(), key)
        if dataclasses.is_dataclass(default):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}.{key}: expected a table")
            kwargs[key] = _build(type(default), value, f"{where}.{key}")
        elif isinstance(default, dict):
            if not isinstance(value, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise ConfigError(f"{where}.{key}: expected a table of strings")
            kwargs[key] = dict(value)
        elif isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where}.{key}: expected a list of strings")
            kwargs[key] = tuple(value)
        elif isinstance(default, Decimal):
            try:
                kwargs[key] = Decimal(str(value))
            except InvalidOperation as exc:
                raise ConfigError(f"{where}.{key}: expected a decimal, got {value!r}") from exc
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{where}.{key}: expected true or false, got {value!r}")
            kwargs[key] = value
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{where}.{key}: expected an integer, got {value!r}")
            kwargs[key] = value
        else:
            if not isinstance(value, str):
                raise ConfigError(f"{where}.{key}: expected a string, got {value!r}")
            kwargs[key] = value
    return cls(**kwargs)


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(dict(out[k]), v)
        else:
            out[k] = v
    return out


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def load_settings(
    extra_file: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Settings from defaults, ``config/default.toml``, an extra file, env, overrides."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    default_file = PROJECT_ROOT / "config" / "default.toml"
    if default_file.exists():
        data = _merge(data, _read_toml(default_file))
    extra = extra_file or env.get("EVALSVC_CONFIG")
    if extra:
        data = _merge(data, _read_toml(Path(extra)))
    env_map = {
        "EVALSVC_DATABASE_URL": ("database", "url"),
        "EVALSVC_HOST": ("server", "host"),
        "EVALSVC_TOKEN_SECRET_FILE": ("auth", "token_secret_file"),
        "EVALSVC_AUDIT_KEY_FILE": ("audit", "key_file"),
    }
    for var, (section, key) in env_map.items():
        if env.get(var):
            data = _merge(data, {section: {key: env[var]}})
    if env.get("EVALSVC_PORT"):
        try:
            data = _merge(data, {"server": {"port": int(env["EVALSVC_PORT"])}})
        except ValueError as exc:
            raise ConfigError(
                f"EVALSVC_PORT: expected an integer, got {env['EVALSVC_PORT']!r}"
            ) from exc
    if env.get("EVALSVC_VAR_DIR"):
        data["var_dir"] = env["EVALSVC_VAR_DIR"]
    if overrides:
        data = _merge(data, overrides)
    settings: Settings = _build(Settings, data, "settings")
    problems = thresholds_problems(settings.alerts)
    if problems:
        raise ConfigError("settings.alerts." + "; settings.alerts.".join(problems))
    return settings
