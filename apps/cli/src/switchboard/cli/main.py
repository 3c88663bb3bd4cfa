"""The ``switchboard`` command line: one entry point for every service and admin task.

The services' commands are here; the admin groups (``leads``, ``jobs``…) and
``simulate-whatsapp`` are imported when one of them runs or help lists them
(:class:`_LazyCommands`), so ``switchboard worker`` and the other services start without
loading the CSV import, the API client or the table printer.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import importlib.util
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

import typer
from pydantic import ValidationError
from typer.core import TyperGroup

from switchboard.common.logging import configure_logging
from switchboard.common.settings import EnvFileError, describe_invalid_settings, get_settings
from switchboard.common.startup_imports import startup_imports
from switchboard.worker.limits import MAX_THREADS

#: The admin command groups, by name: the module whose ``app`` each is.
GROUPS = {
    "leads": "switchboard.cli.leads_cmd",
    "jobs": "switchboard.cli.jobs_cmd",
    "outbound": "switchboard.cli.outbound_cmd",
    "calls": "switchboard.cli.calls_cmd",
    "events": "switchboard.cli.events_cmd",
    "erasures": "switchboard.cli.erasures_cmd",
    "keys": "switchboard.cli.keys_cmd",
    "db": "switchboard.cli.db_cmd",
}
SIMULATE_WHATSAPP = "simulate-whatsapp"
#: The groups that work on the database directly: like ``create-business``, they check the
#: environment and configure logging first, so the platform's lines (a migration's) go to
#: stderr, never into ``--json``'s stdout.
DATABASE_GROUPS = ("keys", "db")


def _after_setup(command: Callable[..., None], *, client: bool = False) -> Callable[..., None]:
    """``command``, run once the environment was checked and logging configured."""

    @functools.wraps(command)
    def checked(*args: Any, **kwargs: Any) -> None:
        _setup(client=client)
        command(*args, **kwargs)

    return checked


def _lazy_command(name: str) -> Any:
    """The click command of a lazily imported name (``GROUPS``, ``simulate-whatsapp``)."""
    if name == SIMULATE_WHATSAPP:
        from switchboard.cli.simulate_cmd import simulate_whatsapp

        single = typer.Typer(add_completion=False)
        single.command()(_after_setup(simulate_whatsapp, client=True))
        command = typer.main.get_command(single)
    else:
        command = typer.main.get_group(importlib.import_module(GROUPS[name]).app)
        command.no_args_is_help = True  # as the root: ``switchboard jobs`` lists its commands
        if name in DATABASE_GROUPS:
            for sub in command.commands.values():
                if sub.callback is not None:
                    sub.callback = _after_setup(sub.callback)
    command.name = name
    return command


def _end_usage_error(exc: Exception, ctx: Any) -> None:
    """Exit 2 with one line, ``error: …``, if ``exc`` is click's usage error (an option missing,
    unknown or refused: click draws a box of it under the usage line); else return.

    Typer vendors click: its errors derive from ``typer.TyperException``, a usage error is the
    one with exit code 2 and a context. Help asked for by giving no arguments is no error.
    """
    from switchboard.cli.exit_codes import REFUSED

    if getattr(exc, "exit_code", None) != REFUSED or not hasattr(exc, "format_message"):
        return
    if type(exc).__name__ == "NoArgsIsHelpError":
        return
    where = (getattr(exc, "ctx", None) or ctx).command_path
    message = " ".join(exc.format_message().split())
    sys.stderr.write(f"error: {message} ({where} --help)\n")
    raise typer.Exit(REFUSED) from None


class _LazyCommands(TyperGroup):
    """The root group: the services' commands as declared, the others imported on use."""

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        after = names.index("simulate-call") + 1
        return [*names[:after], SIMULATE_WHATSAPP, *names[after:], *GROUPS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in GROUPS or cmd_name == SIMULATE_WHATSAPP:
            return _lazy_command(cmd_name)
        return super().get_command(ctx, cmd_name)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """The root's own options and command name; a usage error there is one line too."""
        try:
            return super().parse_args(ctx, args)
        except typer.TyperException as exc:
            _end_usage_error(exc, ctx)
            raise

    def invoke(self, ctx: Any) -> Any:
        """Run the command; PostgreSQL refusing its connection, or a database this process may
        not migrate (``database_refusal``), ends it with one line, exit 1 (the commands that
        work on the database directly, a service's start-up migration); Ctrl-C with one line,
        exit 130 (click's own is "Aborted!", exit 1: a failure, not an interruption); a usage
        error (an option missing, unknown or refused) with one line too, exit 2, where click
        draws a box under the usage line."""
        try:
            return super().invoke(ctx)
        except typer.TyperException as exc:
            _end_usage_error(exc, ctx)
            raise
        except KeyboardInterrupt:
            from switchboard.cli.exit_codes import INTERRUPTED

            _err().print("[red]error:[/red] interrupted", highlight=False)
            raise typer.Exit(INTERRUPTED) from None
        except Exception as exc:
            from switchboard.common.service_start import database_refusal

            reason = database_refusal(exc)
            if reason is None:
                raise
            from switchboard.cli.exit_codes import FAILED

            _err().print(
                f"[red]error:[/red] {reason}", markup=True, highlight=False, soft_wrap=True
            )
            raise typer.Exit(FAILED) from None


app = typer.Typer(
    cls=_LazyCommands,
    help="Switchboard: the backend for AI phone and WhatsApp agents.",
    no_args_is_help=True,
)


def _err() -> Any:
    """The console for messages on stderr (rich, imported only by the commands that print)."""
    from rich.console import Console

    return Console(stderr=True)


def _say_error(message: str) -> None:
    """``error: message`` on one line of stderr, as every command says it (``say_error``)."""
    from switchboard.cli.api_client import say_error

    say_error(message)


def _setup(*, client: bool = False) -> None:
    """Check the environment (exit 2 listing every problem) and configure logging; for a
    ``client`` command (one that calls a service), without httpx's line per request."""
    try:
        settings = get_settings()
    except ValidationError as exc:
        from switchboard.cli.exit_codes import REFUSED

        # Plain lines on stderr (no traceback, no wrapping): one per problem, all at once.
        problems = describe_invalid_settings(exc)
        sys.stderr.write("switchboard: refusing to start, the environment is not fit:\n")
        sys.stderr.write("".join(f"  {line}\n" for line in problems))
        raise typer.Exit(REFUSED) from None
    except EnvFileError as exc:
        from switchboard.cli.exit_codes import REFUSED

        _say_error(str(exc))
        raise typer.Exit(REFUSED) from None
    configure_logging(settings.log_level, settings.log_json)
    if client:
        # "HTTP Request: POST …" at INFO for each call: noise on a command's stderr.
        logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))


def _refuse_missing_modules(modules: list[str] | None) -> None:
    """A usage error (exit 2, one line) for an extra module that cannot be found: before, the
    import failed later, a traceback (the worker's after its migrations)."""
    for name in modules or []:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a parent package missing; an empty name
            found = False
        if not found:
            raise typer.BadParameter(f"no module named {name!r} to import", param_hint="MODULES")


def _port(default: int, lowest: int = 0) -> Any:
    """A TCP port option: one out of range is a usage error (exit 2), not bind()'s traceback
    after the migrations ran. 0 lets the system choose, for a server on its own; ``run``
    derives the services' URLs from its ports, so there ``lowest`` is 1."""
    return typer.Option(default, min=lowest, max=65535)


@app.command()
def run(
    host: str = typer.Option("127.0.0.1", help="Address the HTTP services bind to."),
    api_port: int = _port(8000, lowest=1),
    gateway_port: int = _port(8001, lowest=1),
    scheduler_port: int = _port(8002, lowest=1),
    threads: int = typer.Option(
        4, min=1, max=MAX_THREADS, help="Worker threads for the in-process worker."
    ),
) -> None:
    """Run what SERVICE_ROLE says (default: everything in one process)."""
    _setup()
    with startup_imports():
        from switchboard.cli.embedded import serve

    raise typer.Exit(asyncio.run(serve(host, api_port, gateway_port, scheduler_port, threads)))


@app.command()
def api(
    host: str = "0.0.0.0",  # noqa: S104 - a server binds all interfaces
    port: int = _port(8000),
    workers: int = typer.Option(1, min=1, help="Server processes (each with its own event loop)."),
) -> None:
    """The REST API, WhatsApp webhook and dashboard."""
    _setup()
    from switchboard.api.server import serve

    serve(host, port, workers)


@app.command()
def gateway(host: str = "0.0.0.0", port: int = _port(8001)) -> None:  # noqa: S104
    """The voice gateway (Twilio webhooks and Media Streams)."""
    _setup()
    from switchboard.voice_gateway.server import serve

    serve(host, port, get_settings())


@app.command()
def scheduler(
    modules: list[str] = typer.Argument(None, help="Extra modules whose SCHEDULES run too."),
    host: str = "0.0.0.0",  # noqa: S104
    port: int = _port(8002),
    list_: bool = typer.Option(
        False, "--list", help="Print the schedules with their last and next runs, and exit."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="With --list: print the schedules as JSON on stdout."
    ),
) -> None:
    """The scheduler (periodic jobs, outbox relay) with /health and /metrics."""
    _refuse_missing_modules(modules)
    _setup()
    from switchboard.cli import scheduler_cmd

    if as_json and not list_:
        raise typer.BadParameter("only with --list (serving prints no result)", param_hint="--json")
    if list_:
        scheduler_cmd.print_schedules(modules or [], as_json)
    else:
        scheduler_cmd.serve(host, port, modules or [])


@app.command()
def worker(
    modules: list[str] = typer.Argument(None, help="Extra modules that declare actors."),
    processes: int = typer.Option(2, min=1, help="Worker processes."),
    threads: int = typer.Option(8, min=1, help="Threads per worker process."),
    queues: list[str] = typer.Option([], "--queue", "-Q", help="Only these queues (repeatable)."),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        "--port",
        min=0,
        max=65535,
        help="Port of /health and /metrics for all the processes (default WORKER_METRICS_PORT, "
        "8003; 0 serves none).",
    ),
) -> None:
    """Dramatiq's own worker, after applying migrations once."""
    _refuse_missing_modules(modules)
    _setup()
    with startup_imports():
        from switchboard.worker.runner import run_worker

    raise typer.Exit(run_worker(processes, threads, queues, modules or [], metrics_port))


@app.command()
def migrate(
    as_json: bool = typer.Option(
        False,
        "--json",
        help='Print {"applied": true or false, "revision": "<the head>"} on stdout.',
    ),
) -> None:
    """Apply database migrations (safe to run from many processes at once)."""
    _setup()
    from switchboard.common.migrate import newest_script_revision, worker_startup_migrations

    applied = worker_startup_migrations(refuse_newer=True)
    if as_json:  # the database is at this code's newest revision now (or it raised)
        sys.stdout.write(
            json.dumps({"applied": applied, "revision": newest_script_revision()}) + "\n"
        )
    else:
        _err().print("migrations applied" if applied else "database already up to date")


@app.command("simulate-call")
def simulate_call_command(
    to: str = typer.Option(..., help="The business's number the call goes to (E.164)."),
    from_: str = typer.Option("+15557654321", "--from", help="The caller's number."),
    gateway_url: str = typer.Option(
        "http://127.0.0.1:8001",
        envvar="PUBLIC_BASE_URL",
        help="The gateway's URL: the call goes there and is signed for it, as Twilio signs the "
        "exact URL it calls (so it must be the gateway's PUBLIC_BASE_URL).",
    ),
    say: list[str] = typer.Option([], help="What the caller says, one turn per option."),
    barge_in: bool = typer.Option(False, help="Talk over the agent's first answer."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Act as Twilio: sign the webhook, stream 8 kHz μ-law speech, print what the agent said."""
    from switchboard.common.phone import EXAMPLE, is_e164

    if not is_e164(to):  # the gateway would take it for a number no business answers
        raise typer.BadParameter(
            f"is not a phone number in E.164 form ({EXAMPLE})", param_hint="--to"
        )
    _setup(client=True)
    from dataclasses import asdict

    import httpx

    from switchboard.cli.api_client import fail, require_url
    from switchboard.cli.exit_codes import FAILED, OK, REFUSED
    from switchboard.common.redaction import redact
    from switchboard.voice_gateway.simulator.call import (
        DEFAULT_UTTERANCES,
        SIGNATURE_REFUSED,
        simulate_call,
    )

    require_url(gateway_url, "--gateway-url / PUBLIC_BASE_URL")
    settings = get_settings()
    try:
        outcome = asyncio.run(
            simulate_call(
                gateway_url,
                from_,
                to,
                auth_token=settings.twilio_auth_token,
                utterances=say or DEFAULT_UTTERANCES,
                barge_in=barge_in,
            )
        )
    except httpx.TransportError:
        fail(
            f"cannot reach the gateway at {redact(gateway_url)} "
            "(check --gateway-url / PUBLIC_BASE_URL)"
        )
    if outcome.reason == "unknown_number":  # the number is the mistake: as simulate-whatsapp's
        fail(f"no business answers {to}: the gateway refused the call (check --to)", REFUSED)
    if outcome.reason == SIGNATURE_REFUSED:  # a 403 is refused as given, as the API's are
        fail(
            f"the gateway refused the call's signature (403): is {redact(gateway_url)} its "
            "PUBLIC_BASE_URL, and TWILIO_AUTH_TOKEN the same here and there?",
            REFUSED,
        )
    if as_json:
        sys.stdout.write(json.dumps(asdict(outcome)) + "\n")
    else:
        for line in outcome.agent_said:
            sys.stdout.write(f"agent: {line}\n")
        sys.stdout.write(
            f"call {outcome.call_sid}: {outcome.status} after {outcome.duration_s:.1f} s "
            f"(ended by {outcome.ended_by}){' — ' + outcome.message if outcome.message else ''}\n"
        )
    raise typer.Exit(OK if outcome.status == "completed" else FAILED)


@app.command("create-business")
def create_business_command(
    name: str = typer.Option(..., help="The business's name."),
    phone: str = typer.Option(..., help="Its Twilio number, E.164 (+15551234567)."),
    timezone: str = typer.Option("UTC", help="IANA time zone."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Create a business and print its API key (shown once)."""
    _setup()
    from pydantic import ValidationError

    from switchboard.api.schemas import BusinessCreate, BusinessCreated, BusinessPublic
    from switchboard.cli.database_check import require_database
    from switchboard.cli.exit_codes import REFUSED
    from switchboard.common.migrate import worker_startup_migrations
    from switchboard.domain.businesses.accounts import BusinessExistsError, create_business

    try:
        body = BusinessCreate(name=name, phone_number=phone, timezone=timezone)
    except ValidationError as exc:
        for error in exc.errors():
            field = {"phone_number": "--phone"}.get(str(error["loc"][0]), f"--{error['loc'][0]}")
            _say_error(f"{field}: {error['msg']}")
        raise typer.Exit(REFUSED) from exc
    require_database(at_head=False)  # it migrates, but never creates a database elsewhere
    worker_startup_migrations()
    try:
        business, key = create_business(body.name, body.phone_number, body.timezone)
    except BusinessExistsError as exc:
        _say_error(str(exc))
        raise typer.Exit(REFUSED) from exc  # as the API's 409
    created = BusinessCreated(business=BusinessPublic.model_validate(business), api_key=key.key)
    if as_json:
        sys.stdout.write(json.dumps(created.model_dump(mode="json")) + "\n")
    else:
        _err().print(
            f"created business {business.id} ({business.name}, {business.phone_number})",
            markup=False,
        )
        sys.stdout.write(f"API key (shown once): {key.key}\n")
