"""``switchboard jobs list|show|retry|cancel``: the business's job ledger over the API.

A job can be named by its full id or by any unique prefix of it (at least 4 characters), as
with git commits: ``switchboard jobs show 3f2a``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import typer

from switchboard.cli import output
from switchboard.cli.api_client import ApiClient, ApiKey, ApiUrl, fail
from switchboard.cli.exit_codes import REFUSED
from switchboard.cli.output import Column, field

app = typer.Typer(
    help="The job ledger: list and show jobs, retry failed, dead and cancelled ones, "
    "cancel queued or running ones."
)
STATUSES = ("queued", "running", "succeeded", "failed", "dead", "cancelled")
MIN_PREFIX = 4
#: A job id is a UUID (36 characters) unless its caller chose one.
FULL_ID_LENGTH = 36
_PREFIX_CHARS = re.compile(r"^[0-9a-fA-F-]+$")
#: Ids shown when a prefix matches several jobs.
SHOWN_CANDIDATES = 5

JobArgument = typer.Argument(..., help="The job's id, or a unique prefix of it (4+ characters).")
COLUMNS = (
    field("id"),
    field("actor_name", "actor"),
    field("queue_name", "queue"),
    field("status"),
    field("attempts"),
    Column("enqueued", lambda job: output.when(job["enqueued_at"])),
    field("last_error", "last error", long=True),
)


def resolve_job_id(api: ApiClient, given: str) -> str:
    """The id of the one job whose id is ``given`` or starts with it; otherwise exit clearly.

    A full-length id, or one with characters a UUID cannot hold (an id its caller chose), is
    used as it is. A shorter prefix of hex digits is looked up: none or several matching jobs
    end the command with exit code 2, as the API's 404 for a job it cannot find does.
    """
    if not given:
        fail("the job id is empty: give the job's id or 4+ characters of it", REFUSED)
    if len(given) >= FULL_ID_LENGTH or not _PREFIX_CHARS.match(given):
        return given
    if len(given) < MIN_PREFIX:
        fail(f"job id '{given}' is too short: give at least {MIN_PREFIX} characters of it", REFUSED)
    params = {"id_prefix": given, "limit": SHOWN_CANDIDATES + 1}
    matches = [job["id"] for job in api.call("GET", "/api/v1/jobs", params=params)["items"]]
    if given.lower() in matches:
        return given.lower()
    if not matches:
        fail(f"no job has an id starting with '{given}'", REFUSED)
    if len(matches) > 1:
        shown = ", ".join(matches[:SHOWN_CANDIDATES])
        more = ", …" if len(matches) > SHOWN_CANDIDATES else ""
        several = f"'{given}' is the start of several job ids ({shown}{more})"
        fail(f"{several}: give more characters", REFUSED)
    return str(matches[0])


def job_path(api: ApiClient, given: str) -> str:
    """The API path of the job ``given`` names (``resolve_job_id``), its id one path segment
    whatever it holds: ``/``, ``?``, ``#`` or a ``..`` in an id must not send the request to
    another of the API's paths (``jobs retry ../outbound-runs/1/start?`` started run 1)."""
    return "/api/v1/jobs/" + quote(resolve_job_id(api, given), safe="").replace(".", "%2E")


def _timeline(job: dict[str, Any]) -> list[tuple[str, str]]:
    """The job's moments so far, in order (the latest execution's start and end)."""
    moments = ("enqueued", "started", "finished")
    return [(name, output.when(job[f"{name}_at"])) for name in moments if job[f"{name}_at"]]


#: The states a job's last error ended: in any other (queued, running, succeeded after a
#: retry) the error is an earlier attempt's, which the ledger keeps.
ENDED_BY_ITS_ERROR = ("failed", "dead")


def _last_error_heading(status: str) -> str:
    """``last error:``, or, when the job has moved on since, whose error it was."""
    return "last error:" if status in ENDED_BY_ITS_ERROR else "last error (an earlier attempt's):"


def _render_job(job: dict[str, Any]) -> None:
    progress = job.get("progress")
    pairs: list[tuple[str, Any]] = [
        ("id", job["id"]),
        ("actor", job["actor_name"]),
        ("queue", job["queue_name"]),
        ("status", job["status"] + (" (cancel requested)" if job["cancel_requested"] else "")),
        ("attempts", f"{job['attempts']} (deliveries: {job['deliveries']})"),
        ("outbound run", job.get("run_id")),
        ("dedup key", job.get("dedup_key")),
        ("progress", None if progress is None else f"{progress:.0%}"),
        ("progress note", job.get("progress_message")),
    ]
    # The API never returns a job's arguments unredacted; show them if it sends any.
    if job.get("args") is not None:
        pairs.append(("args", job["args"]))
    pairs += _timeline(job)
    output.print_record(pairs, title=f"job {job['id']}")
    if job.get("last_error"):
        output.stdout_console().print(_last_error_heading(job["status"]), style="bold")
        output.stdout_console().print(output.text(job["last_error"]), markup=False, soft_wrap=True)


@app.command("list")
def list_jobs(
    status: str | None = typer.Option(
        None, help=f"Only jobs in this state: {', '.join(STATUSES)}."
    ),
    actor: str | None = typer.Option(
        None, help="Only this actor's jobs (its name as the list shows it)."
    ),
    id_prefix: str | None = typer.Option(
        None, "--id-prefix", help="Only jobs whose id starts with this (4+ hex characters)."
    ),
    limit: int = typer.Option(50, min=1, max=1000, help="How many (newest first)."),
    as_json: bool = output.JsonOption,
    api_url: str = ApiUrl,
    api_key: str = ApiKey,
) -> None:
    """List jobs, newest first, with their full ids."""
    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"must be one of {', '.join(STATUSES)}", param_hint="--status")
    if id_prefix is not None and not (
        MIN_PREFIX <= len(id_prefix) <= FULL_ID_LENGTH and _PREFIX_CHARS.match(id_prefix)
    ):
        raise typer.BadParameter(
            f"give {MIN_PREFIX} to {FULL_ID_LENGTH} hex digits or dashes", param_hint="--id-prefix"
        )
    params = {"status": status, "actor": actor, "id_prefix": id_prefix}
    with ApiClient(api_url, api_key) as api:
        jobs = api.items("/api/v1/jobs", {k: v for k, v in params.items() if v}, limit)
    output.show(jobs, as_json, lambda: output.print_table(jobs, COLUMNS, empty="no jobs"))


@app.command()
def show(
    job_id: str = JobArgument,
    as_json: bool = output.JsonOption,
    api_url: str = ApiUrl,
    api_key: str = ApiKey,
) -> None:
    """One job: status, attempts, progress, when it was enqueued, started and finished, and
    its last error."""
    with ApiClient(api_url, api_key) as api:
        job = api.call("GET", job_path(api, job_id))
    output.show(job, as_json, lambda: _render_job(job))


@app.command()
def retry(
    job_id: str = JobArgument,
    as_json: bool = output.JsonOption,
    api_url: str = ApiUrl,
    api_key: str = ApiKey,
) -> None:
    """Queue a dead, failed or cancelled job again."""
    with ApiClient(api_url, api_key) as api:
        job = api.call("POST", job_path(api, job_id) + "/retry")
    output.message(f"job {job['id']} is {job['status']}", job, as_json)


@app.command()
def cancel(
    job_id: str = JobArgument,
    as_json: bool = output.JsonOption,
    api_url: str = ApiUrl,
    api_key: str = ApiKey,
) -> None:
    """Cancel a queued job, or ask a running one to stop at its next checkpoint."""
    with ApiClient(api_url, api_key) as api:
        job = api.call("POST", job_path(api, job_id) + "/cancel")
    asked = " and asked to stop" if job["status"] == "running" else ""
    output.message(f"job {job['id']} is {job['status']}{asked}", job, as_json)
