"""Commands that run and administer the service: `serve`, `migrate`, `user add`,
`user link`, `token create`, `token list`, `token revoke`,
`lti platform add|list|remove|update`,
`lti key rotate`, `worker`. Each is a click command, added to the `grader` group by
grader.cli.

All of them read DATABASE_URL (and the other settings) from the environment, like
the service itself.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from flask import Flask
from gunicorn.app.base import BaseApplication
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from grader import db
from grader.api.schemas import Label, Username, UtcDatetime
from grader.config import ConfigError, Settings, environment_variable, load_settings
from grader.i18n import LANGUAGES, supported, tag
from grader.i18n import gettext as _
from grader.lti import keys, platforms
from grader.lti import worker as score_worker
from grader.lti.services import LmsClient
from grader.models import Role, utcnow
from grader.services import accounts, exercises, sign_in, tokens
from grader.services.errors import ServiceError

logger = logging.getLogger(__name__)


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        raise click.ClickException(f"invalid settings: {exc}") from None


def _instance_path() -> Path:
    # The folder create_app() uses: the local SQLite database and secret key live there.
    return Path(Flask("grader", static_folder=None).instance_path)


def _database_url(settings: Settings) -> str:
    instance = _instance_path()
    if settings.uses_local_database:
        instance.mkdir(parents=True, exist_ok=True)
    return settings.database_url_for(instance)


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    url = _database_url(settings)
    engine = db.make_engine(url, settings)
    try:
        revision = db.current_revision(engine)
        if revision is None:
            raise click.ClickException("the database is unreachable (check DATABASE_URL)")
        if revision != db.head_revision():
            raise click.ClickException(
                "the database is not migrated: run `grader migrate` (or `grader serve`)")
        with sessionmaker(engine, expire_on_commit=False)() as session:
            yield session
    finally:
        engine.dispose()


def _migrate(settings: Settings) -> None:
    try:
        db.upgrade(_database_url(settings))
    except DBAPIError as exc:
        raise click.ClickException(f"cannot migrate the database: {exc.orig}") from None


@click.command("migrate")
def migrate() -> None:
    """Apply pending database migrations (DATABASE_URL, default: local SQLite)."""
    _migrate(_settings())
    click.echo(f"database at revision {db.head_revision()}", err=True)


@click.group("user")
def user() -> None:
    """Manage accounts."""


@user.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), default="student",
              show_default=True)
@click.option("--language", type=click.Choice([tag(code) for code in LANGUAGES]),
              default=None, help="The language the user reads the service in (default: "
              "none chosen, so the browser's Accept-Language decides).")
def user_add(username: str, role: str, language: str | None) -> None:
    """Create an account. It signs in to the pages with a link (`grader user link`) and
    to the API with a token (`grader token create`)."""
    try:
        TypeAdapter(Username).validate_python(username)
    except ValidationError:
        raise click.BadParameter("letters, digits and . _ @ + - (at most 100)",
                                 param_hint="USERNAME") from None
    with _session(_settings()) as session:
        try:
            accounts.create_user(session, username, Role(role), supported(language))
        except ServiceError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"added {role} {username}", err=True)


@user.command("link")
@click.argument("username")
@click.option("--base-url", default=None, metavar="URL",
              help="The service's address as the user reaches it [default: GRADER_BASE_URL, "
              "else http://127.0.0.1:8000].")
def user_link(username: str, base_url: str | None) -> None:
    """Print a link that signs USERNAME in to the pages once, alone on stdout. It
    expires after GRADER_SIGN_IN_LINK_HOURS (default 72)."""
    settings = _settings(**({"base_url": base_url} if base_url is not None else {}))
    with _session(settings) as session:
        try:
            link = sign_in.create_link(session, username, settings.sign_in_link_hours)
        except ServiceError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(link.url(settings.base_url))
    click.echo(f"valid once, until {link.expires_at:%Y-%m-%d %H:%M} UTC", err=True)


@click.group("token")
def token() -> None:
    """Manage API tokens."""


MAX_TOKEN_DAYS = 3650


@token.command("create")
@click.argument("username")
@click.option("--name", default="", help="What the token is for (one line, at most 100 "
              "characters), shown by `grader token list`.")
@click.option("--expires-in", "expires_in", type=click.IntRange(1, MAX_TOKEN_DAYS),
              default=None, metavar="DAYS", help="Refuse the token after this many days.")
@click.option("--expires-at", "expires_at", default=None, metavar="ISO",
              help="Refuse the token from this time on (ISO 8601 with its zone: "
              "2030-01-31T23:59:00Z).")
def token_create(username: str, name: str, expires_in: int | None,
                 expires_at: str | None) -> None:
    """Print a new API token for USERNAME, alone on stdout. It is shown only once;
    without an expiry it works until revoked."""
    try:
        name = TypeAdapter(Label).validate_python(name)
    except ValidationError:
        raise click.BadParameter(_("one line of at most 100 characters"),
                                 param_hint="--name") from None
    if expires_in is not None and expires_at is not None:
        raise click.UsageError(_("give --expires-in or --expires-at, not both"))
    expiry = tokens.expiry_in(expires_in) if expires_in is not None else None
    if expires_at is not None:
        try:
            expiry = TypeAdapter(UtcDatetime).validate_python(expires_at)
        except ValidationError:
            raise click.BadParameter(_("an ISO 8601 time with its zone, such as "
                                       "2030-01-31T23:59:00Z"),
                                     param_hint="--expires-at") from None
    with _session(_settings()) as session:
        try:
            created = tokens.create_token(session, username, name, expiry)
        except ServiceError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(created.token)
    until = (_("until {time} UTC").format(time=_time(expiry)) if expiry is not None
             else _("until revoked"))
    click.echo(_("token {id} for {username}, valid {until}").format(
        id=created.info.id, username=username, until=until), err=True)


@token.command("list")
@click.argument("username")
def token_list(username: str) -> None:
    """List USERNAME's tokens: id, name, prefix, when made, when it expires, when last
    used (to within a minute), and whether active, expired or revoked; times in UTC.
    Never a token's secret."""
    with _session(_settings()) as session:
        try:
            found = tokens.list_tokens(session, username)
        except ServiceError as exc:
            raise click.ClickException(str(exc)) from None
    if not found:
        click.echo(_("{username} has no tokens").format(username=username), err=True)
        return
    now = utcnow()
    header = (_("id"), _("name"), _("prefix"), _("created"), _("expires"), _("last used"),
              _("status"))
    rows = [header, *((str(t.id), t.name or "-", t.prefix, _time(t.created_at),
                       _time(t.expires_at), _time(t.last_used_at), _token_status(t, now))
                      for t in found)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths,
                                                                      strict=True)).rstrip())


@token.command("revoke")
@click.argument("token_id", metavar="ID", type=click.IntRange(1, 2**31 - 1))
def token_revoke(token_id: int) -> None:
    """Revoke the token with this id (`grader token list` shows the ids). A running
    service refuses it within GRADER_TOKEN_CACHE_SECONDS."""
    with _session(_settings()) as session:
        try:
            revoked = tokens.revoke_token(session, token_id)
        except ServiceError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(_("revoked token {id} of {username} ({time} UTC)").format(
        id=revoked.id, username=revoked.user, time=_time(revoked.revoked_at)), err=True)


def _time(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M}"


def _token_status(token: tokens.TokenInfo, now: datetime) -> str:
    if token.revoked_at is not None:
        return _("revoked {time}").format(time=_time(token.revoked_at))
    if token.expires_at is not None and token.expires_at <= now:
        return _("expired")
    return _("active")


@click.group("lti")
def lti() -> None:
    """The LTI 1.3 tool: registered LMSs (platforms) and the tool's keys."""


@lti.group("platform")
def lti_platform() -> None:
    """Register, list and remove LMSs."""


def _web_address(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not platforms.is_web_address(value):
        raise click.BadParameter("an http:// or https:// address")
    return value


def _optional_web_address(ctx: click.Context, param: click.Parameter, value: str | None
                          ) -> str | None:
    return None if value is None else _web_address(ctx, param, value)


@lti_platform.command("add")
@click.option("--issuer", required=True, callback=_web_address,
              help="The platform's issuer (iss), as its LMS shows it.")
@click.option("--client-id", required=True, help="The client id the LMS gave this tool.")
@click.option("--deployment-id", "deployment_ids", required=True, multiple=True,
              help="A deployment whose launches are accepted (repeat for several).")
@click.option("--auth-url", required=True, callback=_web_address,
              help="The LMS's OIDC authentication endpoint.")
@click.option("--token-url", required=True, callback=_web_address,
              help="The LMS's OAuth 2 token endpoint.")
@click.option("--jwks-url", required=True, callback=_web_address,
              help="The LMS's public key set.")
@click.option("--assistants-teach", is_flag=True,
              help="The LMS's teaching assistants are instructors here (default: students).")
def lti_platform_add(issuer: str, client_id: str, deployment_ids: tuple[str, ...],
                     auth_url: str, token_url: str, jwks_url: str,
                     assistants_teach: bool) -> None:
    """Register an LMS; prints its id."""
    fields = platforms.PlatformFields(issuer, client_id, deployment_ids, auth_url, token_url,
                                      jwks_url, assistants_teach)
    with _session(_settings()) as session:
        try:
            platform = platforms.add_platform(session, None, fields)
        except ServiceError as exc:
            raise click.ClickException(_problem_text(exc)) from None
    click.echo(platform.id)
    click.echo(f"registered {issuer} (client id {client_id})", err=True)


def _problem_text(exc: ServiceError) -> str:
    located = "; ".join(f"{e.get('pointer', '').lstrip('/')}: {e['detail']}"
                        for e in exc.errors)
    return f"{exc.detail}: {located}" if located else exc.detail


@lti_platform.command("list")
def lti_platform_list() -> None:
    """Every registered LMS, one a line: id, issuer, client id, deployments."""
    with _session(_settings()) as session:
        found = platforms.list_platforms(session, None)
    for platform in found:
        deployments = ",".join(d.deployment_id for d in platform.deployments)
        click.echo(f"{platform.id}\t{platform.issuer}\t{platform.client_id}\t{deployments}")


@lti_platform.command("remove")
@click.argument("platform_id", type=click.IntRange(1, 2_147_483_647))
@click.option("--force", is_flag=True,
              help="Remove it even though scores are still to be sent or were refused.")
def lti_platform_remove(platform_id: int, force: bool) -> None:
    """Forget an LMS (by the id `list` shows) with its LMS courses, placements and score
    jobs: its launches are refused from now on."""
    with _session(_settings()) as session:
        try:
            platforms.remove_platform(session, None, platform_id, force=force)
        except ServiceError as exc:
            raise click.ClickException(exc.detail) from None
    click.echo(f"removed platform {platform_id}", err=True)


@lti_platform.command("update")
@click.argument("platform_id", type=click.IntRange(1, 2_147_483_647))
@click.option("--auth-url", callback=_optional_web_address,
              help="The LMS's OIDC authentication endpoint.")
@click.option("--token-url", callback=_optional_web_address,
              help="The LMS's OAuth 2 token endpoint.")
@click.option("--jwks-url", callback=_optional_web_address,
              help="The LMS's public key set.")
def lti_platform_update(platform_id: int, auth_url: str | None, token_url: str | None,
                        jwks_url: str | None) -> None:
    """Change an LMS's endpoints, keeping its courses, placements and scores."""
    with _session(_settings()) as session:
        try:
            platforms.update_platform(session, None, platform_id,
                                      platforms.PlatformAddresses(auth_url, token_url,
                                                                  jwks_url))
        except ServiceError as exc:
            raise click.ClickException(_problem_text(exc)) from None
    click.echo(f"updated platform {platform_id}", err=True)


@lti.group("key")
def lti_key() -> None:
    """The tool's signing keys."""


@lti_key.command("rotate")
def lti_key_rotate() -> None:
    """Make a new signing key; the old one stays published for
    GRADER_LTI_KEY_GRACE_HOURS (default 72). Prints the new key's kid."""
    with _session(_settings()) as session:
        click.echo(keys.rotate(session))


@click.command("worker")
@click.option("--once", is_flag=True, help="Send the scores that are due, then stop.")
def worker(once: bool) -> None:
    """Send the scores of assignments placed in an LMS (LTI grade passback). Several
    workers may run at once; each score is sent by one. Stops on SIGTERM or Ctrl-C."""
    settings = _settings()
    client = LmsClient(settings.lti_http_timeout)
    with _session(settings) as session:
        if once:
            taken = score_worker.run_once(session, client)
            click.echo(f"{taken} score job(s) tried", err=True)
            return
        stop = threading.Event()
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signal_number, lambda *_args: stop.set())
        click.echo("sending scores to the LMSs (Ctrl-C stops)", err=True)
        score_worker.run(session, client, stop)


class GraderServer(BaseApplication):
    """gunicorn running create_app(), configured as grader.gunicorn_conf says."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            if name in self.cfg.settings and value is not None:
                self.cfg.set(name, value)

    def load(self) -> Any:
        from grader.app import create_app

        return create_app()


def _load_exercises(settings: Settings) -> None:
    folder = settings.exercises_path()
    if folder is None or not folder.is_dir():
        click.echo("no exercises folder to load", err=True)
        return
    with _session(settings) as session:
        report = exercises.load_exercise_folder(session, folder, settings.max_exercise_bytes)
    click.echo(f"exercises from {folder}: {len(report.added)} new, "
               f"{len(report.unchanged)} unchanged, {len(report.invalid)} invalid", err=True)
    for path in report.invalid:
        click.echo(f"  invalid, skipped: {path} (see `grader check`)", err=True)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Worker processes [default: one per core].")
@click.option("--threads", type=click.IntRange(1, 64), default=None,
              help="Threads per worker [default: 4].")
def serve(host: str, port: int, workers: int | None, threads: int | None) -> None:
    """Run the service under gunicorn: apply migrations, load new exercise versions,
    then serve."""
    overrides: dict[str, Any] = {"bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}"}
    if workers is not None:
        overrides["workers"] = workers
    if threads is not None:
        overrides["threads"] = threads
    settings = _settings(**overrides)
    try:
        # Fail here, with a message, rather than in every worker.
        settings.secret_key_for(_instance_path())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    _migrate(settings)
    _load_exercises(settings)
    # The workers read their settings from the environment: give them the same ones.
    for name, value in overrides.items():
        os.environ[environment_variable(name)] = str(value)
    from grader import gunicorn_conf  # reads the settings again: they are valid

    GraderServer(gunicorn_conf.options(settings)).run()


@click.group()
def main() -> None:
    """The service's commands, for `python -m grader.service_cli`."""


for _command in (serve, migrate, user, token, lti, worker):
    main.add_command(_command)

if __name__ == "__main__":
    sys.exit(main())
