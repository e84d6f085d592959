"""One typed settings object for the service, read from environment variables.

`DATABASE_URL` and `SECRET_KEY` keep their conventional names; every other setting is
prefixed `GRADER_` (e.g. `GRADER_MAX_BODY_BYTES`). With nothing set, the service uses
SQLite in the Flask instance folder, which is the local embedded setup.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from limits import parse_many
from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

# Keys that appear in tutorials and sample configs: never accepted as a real secret.
WEAK_SECRET_KEYS = frozenset({"dev", "secret", "changeme", "change-me", "test", "password"})
MIN_SECRET_KEY_LENGTH = 32
SECRET_KEY_FILE = "secret_key"
SQLITE_FILE = "grader.sqlite3"

# The bundled exercises sit beside the package in the source tree (editable install,
# Docker image); an installed wheel has none and must set GRADER_EXERCISES_DIR.
BUNDLED_EXERCISES_DIR = Path(__file__).resolve().parent.parent / "exercises"


# The settings that keep their conventional names; every other one is GRADER_<NAME>.
ENVIRONMENT_NAMES = {"database_url": "DATABASE_URL", "secret_key": "SECRET_KEY",
                     "redis_url": "REDIS_URL"}


class ConfigError(ValueError):
    """A setting that makes the service refuse to start."""


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment (`overrides` win), or ConfigError with one
    line naming each bad variable: `GRADER_WORKERS: Input should be a valid integer`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc)) from None


def describe_errors(exc: ValidationError) -> str:
    """pydantic's errors about settings, on one line, by environment variable."""
    problems = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]).lower() if error["loc"] else None
        message = error["msg"].removeprefix("Value error, ")
        if field is None:
            problems.append(message)
            continue
        value = error.get("input")
        # The URL may hold a password: never echo it, nor the key.
        shown = "" if field in ENVIRONMENT_NAMES or not isinstance(value, str) else (
            f" (got {value!r})")
        problems.append(f"{environment_variable(field)}: {message}{shown}")
    return "; ".join(problems)


def environment_variable(field: str) -> str:
    return ENVIRONMENT_NAMES.get(field, f"GRADER_{field.upper()}")


class Settings(BaseSettings):
    """Every setting of the service, with its documented default."""

    model_config = SettingsConfigDict(env_prefix="GRADER_", extra="forbid", frozen=True)

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "database_url"),
        description="SQLAlchemy URL; PostgreSQL as postgresql+psycopg://user@host/db. "
        "Unset: SQLite in the instance folder.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("SECRET_KEY", "secret_key"),
        description="Flask's signing key. Required with DATABASE_URL; the local SQLite "
        "setup generates one and keeps it in the instance folder.",
    )
    max_body_bytes: Annotated[int, Field(ge=1024)] = Field(
        default=1_048_576,
        description="Largest request body accepted; larger ones are answered 413.",
    )
    max_exercise_bytes: Annotated[int, Field(ge=1024)] = Field(
        default=262_144, description="Largest exercise YAML accepted by PUT /exercises/{id}."
    )
    exercises_dir: Path | None = Field(
        default=None,
        description="Folder of exercise YAML files loaded by `grader serve` (default: the "
        "bundled exercises/ folder when present).",
    )
    db_pool_size: Annotated[int, Field(ge=1, le=100)] = Field(
        default=5, description="Connections kept per worker process (PostgreSQL); as many "
        "again may be opened under load (overflow). The submit path has a pool of its own "
        "of at most GRADER_THREADS connections."
    )
    db_connect_timeout: Annotated[int, Field(ge=1, le=60)] = Field(
        default=5, description="Seconds to wait for a database connection."
    )
    token_cache_seconds: Annotated[float, Field(ge=0, le=10)] = Field(
        default=5, description="How long a worker keeps the owner of a token it has seen: "
        "a revoked token or a changed role takes effect within this time (0: every request "
        "asks the database)."
    )
    retry_after_seconds: Annotated[int, Field(ge=1, le=3600)] = Field(
        default=5, description="Retry-After sent with 503 when the database is unreachable."
    )
    # Pages: the address people reach the service at, and how they sign in.
    base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The service's address as people reach it (scheme, host, port, any "
        "path prefix): sign-in links start with it, and an https address makes the "
        "session cookie Secure.")
    sign_in_link_hours: Annotated[int, Field(ge=1, le=8760)] = Field(
        default=72, description="How long a sign-in link may be used (once), in hours.")
    session_hours: Annotated[int, Field(ge=1, le=8760)] = Field(
        default=336, description="How long a browser stays signed in after using a "
        "sign-in link, in hours.")
    frame_ancestors: str = Field(
        default="'self'", description="The pages' Content-Security-Policy frame-ancestors: "
        "the sites that may show them in a frame (add an LMS's address here).")
    # Rate limits (grader/rate_limits.py), in Flask-Limiter's notation: "30/minute", or
    # several separated by ";" ("30/minute;300/hour"). A class of 500 behind one campus
    # NAT submitting 3 times in the last minute is 1,500 submissions from one address.
    rate_limit_submit_user: str = Field(
        default="30/minute", description="Submissions (API and pages) per signed-in user.")
    rate_limit_submit_ip: str = Field(
        default="3000/minute", description="Submissions per client address (a campus NAT "
        "may hold a whole class).")
    rate_limit_sign_in_user: str = Field(
        default="30/minute", description="Sign-in link requests per signed-in user: "
        "creating links, and opening or using one while signed in.")
    rate_limit_sign_in_ip: str = Field(
        default="2000/minute", description="Sign-in link requests (opening and using a "
        "link, creating links) per client address.")
    rate_limit_prefix: str = Field(
        default="grader", pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="What the rate-limit counters' keys start with: services sharing "
        "one Redis keep apart by it.")
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "redis_url"),
        description="Where the rate-limit counters live, shared by every replica "
        "(redis://host:6379/0). Unset: in each worker's memory.")
    trusted_proxies: Annotated[int, Field(ge=0, le=5)] = Field(
        default=0, description="How many proxies in front append to X-Forwarded-For: the "
        "client address is taken from that header only when this is at least 1.")

    # LTI 1.3 (grader/lti): the tool's URLs hang off base_url.
    lti_key_grace_hours: Annotated[int, Field(ge=0, le=8760)] = Field(
        default=72, description="How long a key replaced by `grader lti key rotate` stays "
        "in the published key set (/lti/jwks), in hours.")
    lti_http_timeout: Annotated[float, Field(gt=0, le=120)] = Field(
        default=10, description="Seconds to wait for an LMS (its keys, tokens, line items, "
        "scores, memberships) before giving up on a request.")
    # gunicorn (`grader serve`, grader/gunicorn_conf.py)
    bind: str = Field(default="127.0.0.1:8000", description="host:port to listen on.")
    workers: Annotated[int, Field(ge=1, le=64)] = Field(
        default_factory=lambda: os.cpu_count() or 1,
        description="Worker processes (default: one per core).")
    threads: Annotated[int, Field(ge=1, le=64)] = Field(
        default=4, description="Threads per worker process; at most the connections its "
        "pool may open (2 x GRADER_DB_POOL_SIZE).")
    access_log: str = Field(default="-", description="Access log file; '-' is stdout, "
                            "empty disables it.")
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    testing: bool = False

    @field_validator("secret_key")
    @classmethod
    def _strong_secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        if raw.lower() in WEAK_SECRET_KEYS or len(raw) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(
                f"SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} random characters "
                "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        return value

    @field_validator("base_url")
    @classmethod
    def _http_address(cls, value: str) -> str:
        parsed = urlsplit(value.strip())
        if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.query or (
                parsed.fragment):
            raise ValueError("must be an http:// or https:// address, such as "
                             "https://grader.example.edu")
        return value.strip().rstrip("/")

    @field_validator("frame_ancestors")
    @classmethod
    def _one_directive(cls, value: str) -> str:
        # The value goes into a header, inside one CSP directive.
        if not value.strip() or any(c in value for c in ";,\r\n\x00"):
            raise ValueError("one or more sources separated by spaces, such as "
                             "\"'self' https://moodle.example.edu\" (no ; or ,)")
        return " ".join(value.split())

    @field_validator("rate_limit_submit_user", "rate_limit_submit_ip",
                     "rate_limit_sign_in_user", "rate_limit_sign_in_ip")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        try:
            rates = parse_many(value)
        except ValueError:
            rates = []
        if not rates or any(rate.amount < 1 for rate in rates):
            raise ValueError("a rate such as 30/minute, or several separated by ; "
                             "(30/minute;300/hour), each allowing at least 1")
        return value.strip()

    @field_validator("redis_url")
    @classmethod
    def _redis_address(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if urlsplit(value.strip()).scheme not in ("redis", "rediss", "redis+unix"):
            raise ValueError("must be a redis:// or rediss:// address, such as "
                             "redis://127.0.0.1:6379/0")
        return value.strip()

    @property
    def secure_cookies(self) -> bool:
        """Cookies only over HTTPS, when people reach the service over HTTPS."""
        return self.base_url.startswith("https://")

    @model_validator(mode="after")
    def _threads_fit_the_pool(self) -> Settings:
        # A thread that finds the pool exhausted waits, then fails with 503.
        if self.threads > self.db_pool_size + self.db_max_overflow:
            raise ValueError(
                f"GRADER_THREADS (or --threads) is {self.threads}, more than the "
                f"{self.db_pool_size + self.db_max_overflow} database connections a worker "
                f"may open (GRADER_DB_POOL_SIZE {self.db_pool_size}, and as many overflow): "
                "lower the threads or raise the pool size")
        return self

    @property
    def db_max_overflow(self) -> int:
        """Connections a worker may open beyond its pool under load."""
        return self.db_pool_size

    @property
    def uses_local_database(self) -> bool:
        """True for the embedded default: SQLite in the instance folder."""
        return self.database_url is None

    def database_url_for(self, instance_path: Path) -> str:
        if self.database_url is not None:
            return self.database_url
        return f"sqlite:///{instance_path / SQLITE_FILE}"

    def secret_key_for(self, instance_path: Path) -> str:
        """The signing key; refuses to start without a real one outside tests and the
        local SQLite setup (which keeps a generated key in the instance folder)."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        if self.testing:
            return secrets.token_urlsafe(48)
        if not self.uses_local_database:
            raise ConfigError("SECRET_KEY must be set when DATABASE_URL is set")
        return _instance_secret_key(instance_path)

    def exercises_path(self) -> Path | None:
        if self.exercises_dir is not None:
            return self.exercises_dir
        return BUNDLED_EXERCISES_DIR if BUNDLED_EXERCISES_DIR.is_dir() else None


def _instance_secret_key(instance_path: Path) -> str:
    path = instance_path / SECRET_KEY_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    instance_path.mkdir(parents=True, exist_ok=True)
    # Written to a private temporary file, then linked into place: link() fails if the
    # key exists, so when two workers start at once both end up with the same key.
    fd, temporary = tempfile.mkstemp(dir=instance_path, prefix=".secret_key.")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    return path.read_text().strip()
