"""Serving the services: one role per process, or all of them in one (``switchboard run``)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import os
import shlex
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn

import uvicorn
from sqlalchemy.engine import make_url

from switchboard.common.db import system_session
from switchboard.common.health import broker_refusal
from switchboard.common.logging import get_logger
from switchboard.common.migrate import worker_startup_migrations
from switchboard.common.models import Business
from switchboard.common.settings import Settings, get_settings, reachable_host
from switchboard.domain.businesses.accounts import business_for_api_key, issue_api_key

DEMO_PHONE = "+15550000000"
#: Under VAR_DIR: the demo business's API key, so it stays the same across restarts.
DEMO_KEY_FILE = "demo-api-key"
#: The signals that stop ``switchboard run`` cleanly (Ctrl-C, ``kill``, ``docker stop``).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: Seconds after a stop signal within which the same signal again is the same request, not a
#: second one that stops at once (:class:`StopSignals`): well above the 200 ms after which
#: ``uv run`` passes it on, well below a person's second Ctrl-C on a stop that hangs.
REPEAT_WINDOW_S = 1.0


def build_app(role: str, settings: Settings) -> Any:
    """The ASGI app for an HTTP role."""
    if role == "api":
        from switchboard.api.app import create_app as create_api

        return create_api(settings)
    if role == "gateway":
        from switchboard.voice_gateway.app import create_app as create_gateway

        return create_gateway(settings)
    if role == "scheduler":
        from switchboard.scheduler.app import create_app as create_scheduler

        return create_scheduler(settings)
    raise ValueError(f"unknown HTTP role {role!r}")


class _Server(uvicorn.Server):
    """A uvicorn server that leaves the signals to :class:`StopSignals`.

    uvicorn's own handling is for one server per process: each would take SIGINT from the
    others, and once stopped it raises the signal again, which ends ``asyncio.run`` with a
    KeyboardInterrupt and a traceback per server's lifespan."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _server(app: Any, host: str, port: int, role: str) -> uvicorn.Server:
    """The server of one HTTP role; the gateway's takes Media Streams as its own server does."""
    options: Mapping[str, Any] = {}
    if role == "gateway":
        from switchboard.voice_gateway.server import WEBSOCKET_OPTIONS

        options = WEBSOCKET_OPTIONS
    return _Server(
        # log_config=None: uvicorn's lines go through our logging (JSON with LOG_JSON).
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            log_config=None,
            lifespan="on",
            **options,
        )
    )


class StopSignals:
    """SIGINT and SIGTERM (Ctrl-C, ``kill``, ``docker stop``) for as long as ``switchboard run``
    serves, its worker's stop included (``with StopSignals() as stop``).

    The first asks the servers to shut down (requests finish, lifespans end); a repeat within
    :data:`REPEAT_WINDOW_S` of it is the same request; a later one (someone pressing Ctrl-C
    again on a slow stop) stops them at once. ``uv run``, which ``make run`` runs us under,
    passes a SIGINT on to us 200 ms after it when it cannot tell that we had it too (no
    terminal: ``make run < /dev/null &``), though the process group gave it to us already.

    On leaving after a stop was asked, the signals stay ignored until the process ends: a
    copy landing after the worker stopped would otherwise be Python's KeyboardInterrupt, and
    a clean stop would end as "interrupted", exit 130 (``make: *** … Error 130``).

    The handlers are Python's own (``signal.signal``), not the event loop's: the loop puts
    back the default handler when one is removed, and a copy could land in that gap."""

    def __init__(self) -> None:
        self.asked_at: float | None = None
        self._servers: list[uvicorn.Server] = []
        self._previous: dict[int, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def __enter__(self) -> StopSignals:
        self._loop = asyncio.get_running_loop()
        self._previous = {signum: signal.signal(signum, self._received) for signum in STOP_SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, signal.SIG_IGN if self.asked_at is not None else previous)

    @property
    def asked(self) -> bool:
        return self.asked_at is not None

    def serving(self, servers: list[uvicorn.Server]) -> None:
        """The servers a stop signal shuts down from now on."""
        self._servers = servers

    def shut_down(self, *, at_once: bool = False) -> None:
        """Ask the servers to shut down (``at_once``: without waiting for requests or the
        lifespans' end), in the loop's thread."""
        for server in self._servers:
            server.should_exit = True
            server.force_exit = server.force_exit or at_once

    def _received(self, signum: int, frame: object) -> None:
        # Python runs it in the main thread, between two bytecodes: the loop shuts down.
        now = time.monotonic()
        if self.asked_at is not None and now - self.asked_at < REPEAT_WINDOW_S:
            return
        at_once = self.asked_at is not None
        self.asked_at = self.asked_at if at_once else now
        assert self._loop is not None
        self._loop.call_soon_threadsafe(functools.partial(self.shut_down, at_once=at_once))


async def _serve_until_stopped(
    servers: list[uvicorn.Server], on_up: Callable[[], None], stop: StopSignals
) -> None:
    """Run ``servers`` until ``stop`` says (SIGINT or SIGTERM), calling ``on_up`` once all
    listen; none starts when a stop was asked while the process started up."""
    if stop.asked:
        return
    stop.serving(servers)
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    while not all(server.started for server in servers):
        if any(task.done() for task in tasks):  # one could not start: stop the others
            stop.shut_down()
            break
        await asyncio.sleep(0.05)  # uvicorn offers no event for "listening"
    else:
        on_up()
    await asyncio.gather(*tasks)


async def serve_one(role: str, host: str, port: int) -> None:
    """Serve one HTTP role until stopped."""
    app = build_app(role, get_settings())
    with StopSignals() as stop:
        await _serve_until_stopped([_server(app, host, port, role)], _nothing, stop)


def _nothing() -> None:
    return None


#: Set to 1 by the Makefile's ``run`` target: the run was started by ``make run``.
UNDER_MAKE_RUN = "SWITCHBOARD_MAKE_RUN"


def ports_in_use(host: str, ports: dict[str, int]) -> dict[str, int]:
    """The roles whose port on ``host`` cannot be bound now (another process holds it), with
    those ports; empty when every one is free. A test bind, as uvicorn binds (address reuse,
    so a port left in TIME_WAIT by the last run counts as free). A ``host`` that is no address
    of this machine, or a port this user may not bind, ends the command with one line, exit 2
    (before, the one was a traceback, the other "ports … are in use")."""
    busy = {}
    for role, port in ports.items():
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                host or None, port, type=socket.SOCK_STREAM
            )[0]
        except socket.gaierror as exc:
            _refuse(f"--host {host}: {exc.strerror} (give an address of this machine)")
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    where = f"--host {host} --{role}-port {port}"
                    _refuse(f"cannot listen on {where}: {exc.strerror}")
                busy[role] = port
    return busy


def _refuse(message: str) -> NoReturn:
    """``error: message`` on one line of stderr, exit 2 (the command as given cannot start)."""
    sys.stderr.write(f"error: {message}\n")
    raise SystemExit(2)


def refuse_shared_ports(ports: dict[str, int]) -> None:
    """Exit 2 with one line if two services were given the same port (before, both started,
    and the second one's bind ended the run with uvicorn's traceback, exit 3, after the
    migrations and the worker had started)."""
    by_port: dict[int, list[str]] = {}
    for role, port in ports.items():
        by_port.setdefault(port, []).append(f"--{role}-port")
    shared = [(port, options) for port, options in by_port.items() if len(options) > 1]
    if shared:
        port, options = shared[0]
        _refuse(f"{' and '.join(options)} are both {port}: give each service its own port")


def refuse_ports_in_use(host: str, ports: dict[str, int]) -> None:
    """Exit 2 with one line naming every port taken and its option, and the whole ``ARGS`` to
    start on free ones: the busy ports moved, the others as given (a suggestion naming only
    the busy option would send the rest back to their defaults)."""
    busy = ports_in_use(host, ports)
    if not busy:
        return
    named = [f"{port} (--{role}-port)" for role, port in busy.items()]
    if len(named) == 1:
        taken = f"port {named[0]} is in use"
    else:
        taken = f"ports {', '.join(named[:-1])} and {named[-1]} are in use"
        if len(busy) == len(ports):
            taken += " (is Switchboard running already?)"
    moved = {role: port + 100 if role in busy else port for role, port in ports.items()}
    args = " ".join(f"--{role}-port {port}" for role, port in moved.items())
    choose = "choose another" if len(busy) == 1 else "choose others"
    sys.stderr.write(f"error: {taken}; {choose}, e.g. {run_command(args)}\n")
    raise SystemExit(2)


def run_command(args: str) -> str:
    """``switchboard run`` with ``args`` as the user would type it again: ``make run
    ARGS="…"`` under ``make run`` (its target sets :data:`UNDER_MAKE_RUN`), else the command
    itself (before, ``make run`` always: wrong for one who ran ``switchboard run``)."""
    if os.environ.get(UNDER_MAKE_RUN) == "1":
        return f'make run ARGS="{args}"'
    return f"switchboard run {args}"


def demo_api_key(var_dir: Path) -> str:
    """The demo business's API key (the business is created on first run), for local
    development only. The same key comes back on every start with the same data directory:
    it is kept in ``VAR_DIR/demo-api-key`` (mode 0600) and issued anew only when that file is
    gone or its key no longer opens the demo business (revoked, another database)."""
    path = var_dir / DEMO_KEY_FILE
    with system_session() as session:
        business = session.query(Business).filter_by(phone_number=DEMO_PHONE).one_or_none()
        business_id = business.id if business is not None else None
    if business_id is None:
        from switchboard.domain.businesses.accounts import create_business

        _, issued = create_business("Demo Business", DEMO_PHONE)
        _write_private(path, issued.key)
        return issued.key
    if path.exists():
        kept = path.read_text().strip()
        if business_for_api_key(kept) == business_id:
            return kept
    key = issue_api_key(business_id, name="demo (switchboard run)").key
    _write_private(path, key)
    return key


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner can read (it holds a secret)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text + "\n")
    path.chmod(0o600)  # O_CREAT's mode applies only to a new file, not to one left from before


def use_urls_for_ports(host: str, ports: dict[str, int]) -> Settings:
    """Make the service URLs the ports imply (those the environment leaves unset) this
    process's settings, and return them. They go into the environment, not only into one
    Settings object, because every module reads :func:`get_settings` on its own."""
    os.environ.update(get_settings().urls_for_ports(host, ports))
    get_settings.cache_clear()
    return get_settings()


def banner(settings: Settings, host: str, ports: dict[str, int], api_key: str | None) -> list[str]:
    """What ``switchboard run`` prints once it is up: where each service is, how to log in to
    the dashboard, where the development secrets are and how to point the CLI at this run."""
    database = "PostgreSQL" if settings.database_url else "SQLite"
    broker = "RabbitMQ" if settings.amqp_url else "in-process broker"
    mode = f"{database} + {broker}"
    if settings.embedded:
        mode = f"embedded ({mode})"
    local = f"http://{reachable_host(host)}"
    lines = [
        f"Switchboard is up — {mode}",
        f"  Dashboard  {local}:{ports['api']}/dashboard"
        + ("  (log in with the API key below)" if api_key else ""),
        f"  API        {local}:{ports['api']}  (docs: /docs)",
        f"  Gateway    {local}:{ports['gateway']}  (where Twilio calls; no page: /health)",
        f"  Scheduler  {local}:{ports['scheduler']}/health",
    ]
    if api_key:
        lines.append(
            f"  API key    {api_key}  (demo business {DEMO_PHONE}; "
            f"kept in {settings.var_dir / DEMO_KEY_FILE})"
        )
    if settings.environment == "development":
        lines += [f"  {label:<10} {text}" for label, text in _secret_lines(settings)]
    exports = f"API_BASE_URL={settings.api_base_url} PUBLIC_BASE_URL={settings.public_base_url}"
    if api_key:
        exports += f" SWITCHBOARD_API_KEY={api_key}"
    if settings.environment == "development" and "ADMIN_API_KEY" in development_secrets(settings):
        exports += f" ADMIN_API_KEY={settings.admin_api_key}"  # `events list`; no secret here
    database_export, database_note = _database_for_the_cli(settings)
    exports += database_export
    lines += ["  In another shell, for the CLI:", f"    export {exports}", *database_note]
    return lines


def _database_for_the_cli(settings: Settings) -> tuple[str, list[str]]:
    """What the export line adds so that the CLI's database commands (``keys``,
    ``create-business``) open this run's database: without ``DATABASE_URL`` they open the
    SQLite file under ``var/`` of the directory they run in, another database with another
    demo key. So a PostgreSQL URL is exported, as is ``VAR_DIR`` when it is not ``var``. A URL
    holding a password is not printed (the banner prints no secret that was set): a line asks
    for it."""
    if not settings.database_url:
        if settings.var_dir == Settings.model_fields["var_dir"].default:
            return "", []
        return f" VAR_DIR={shlex.quote(str(settings.var_dir.resolve()))}", []
    if make_url(settings.database_url).password is None:
        return f" DATABASE_URL={settings.database_url}", []
    return "", [
        "    and this run's DATABASE_URL (not printed: it holds a password) "
        "for `keys` and `create-business`"
    ]


#: The secrets production refuses to start with at their development defaults (the settings'
#: ``secret_problems``), by the environment variable that sets each.
PRODUCTION_SECRETS = (
    "ADMIN_API_KEY",
    "INTERNAL_API_TOKEN",
    "TWILIO_AUTH_TOKEN",
    "MEDIA_TOKEN_SECRET",
    "SESSION_SECRET",
    "VAPID_PRIVATE_KEY",
)


def development_secrets(settings: Settings) -> list[str]:
    """The secrets of :data:`PRODUCTION_SECRETS` still at their development defaults (the
    values written in ``switchboard.common.settings``, an empty VAPID key: one under VAR_DIR)."""
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    return [
        name
        for name in PRODUCTION_SECRETS
        if getattr(settings, name.lower()).strip() == defaults[name.lower()]
    ]


def _secret_lines(settings: Settings) -> list[tuple[str, str]]:
    """Whether the admin key and the Twilio credentials are still the development defaults
    (printed, they are no secret) or set, and which other secrets are defaults."""
    left = development_secrets(settings)
    if "ADMIN_API_KEY" in left:
        admin_text = (
            f"{settings.admin_api_key}  (development default; set ADMIN_API_KEY, see .env.example)"
        )
    else:
        admin_text = "set by ADMIN_API_KEY"
    if "TWILIO_AUTH_TOKEN" in left:
        twilio_text = (
            "development credentials, no real calls or messages; "
            "set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN for real ones"
        )
    else:
        twilio_text = f"account {settings.twilio_account_sid} (TWILIO_AUTH_TOKEN set)"
    lines = [("Admin key", admin_text), ("Twilio", twilio_text)]
    others = [name for name in left if name not in ("ADMIN_API_KEY", "TWILIO_AUTH_TOKEN")]
    if others:
        lines.append(
            ("Secrets", f"{', '.join(others)}: development defaults (production refuses them)")
        )
    return lines


def _start_worker(threads: int) -> Any:
    import switchboard.worker.app as worker_app
    from switchboard.worker.runtime.inprocess import start_worker
    from switchboard.worker.runtime.recovery import requeue_unfinished_jobs

    worker = start_worker(worker_app.broker, threads)
    if not get_settings().amqp_url:
        requeue_unfinished_jobs()
    get_logger(__name__).info("run.worker_started", threads=threads)
    return worker


async def _serve_all(
    settings: Settings, host: str, ports: dict[str, int], threads: int, stop: StopSignals
) -> None:
    """Every service and the in-process worker, until stopped."""
    apps = {name: build_app(name, settings) for name in ports}
    worker = _start_worker(threads)
    try:
        key = demo_api_key(settings.var_dir) if settings.environment == "development" else None

        def announce() -> None:
            # Plain lines on stdout, never wrapped: the key and the URLs must copy whole.
            lines = banner(settings, host, ports, key)
            sys.stdout.write("".join(line + "\n" for line in lines))
            sys.stdout.flush()

        servers = [_server(apps[name], host, ports[name], name) for name in ports]
        await _serve_until_stopped(servers, announce, stop)
    finally:
        worker.stop()


async def serve(
    host: str, api_port: int, gateway_port: int, scheduler_port: int, threads: int
) -> int:
    """Run the roles SERVICE_ROLE selects in this process; ``all`` runs every one. The exit
    status: 0 once stopped; the worker's own in the worker role (2 when it refuses to start)."""
    role = get_settings().service_role
    if role == "worker":
        from switchboard.worker.runner import run_worker

        return run_worker(1, threads, [], [])
    ports = {"api": api_port, "gateway": gateway_port, "scheduler": scheduler_port}
    if role != "all":
        refuse_ports_in_use(host, {role: ports[role]})
        use_urls_for_ports(host, {role: ports[role]})
        await serve_one(role, host, ports[role])
        return 0
    refuse_shared_ports(ports)
    from switchboard.cli.run_lock import refuse_a_second_run

    local = f"http://{reachable_host(host)}"
    served = {"api": f"{local}:{ports['api']}", "gateway": f"{local}:{ports['gateway']}"}
    # One run per VAR_DIR on SQLite or the in-process broker. Before the ports: a second run
    # on the first one's ports is told which run has them (pid, addresses), not only that they
    # are in use. A VAR_DIR not there yet has no run: nothing is created before the ports'
    # check, which a port another program holds refuses.
    if get_settings().var_dir.is_dir():
        refuse_a_second_run(get_settings(), served)
    refuse_ports_in_use(host, ports)
    settings = use_urls_for_ports(host, ports)
    refuse_a_second_run(settings, served)  # taken above, or now
    if (refusal := broker_refusal(settings)) is not None:
        _refuse(refusal)  # before, every consumer logged it a few times a second, "up"
    # From the migrations to the worker's stop: a signal in between stops what started, exit 0
    # (before, one during the migrations killed the run or cancelled its start: tracebacks).
    with StopSignals() as stop:
        worker_startup_migrations()
        if not stop.asked:  # asked during the migrations: nothing more starts (no worker)
            await _serve_all(settings, host, ports, threads, stop)
    if stop.asked:  # the banner's counterpart: every service stopped, on purpose
        sys.stdout.write("Switchboard stopped\n")
        sys.stdout.flush()
    return 0
