"""What a command's exit code says: one rule for every command, whoever catches the mistake.

- ``OK`` (0): done.
- ``FAILED`` (1): the request was fine, but the operation did not happen or did not succeed:
  the API (or the database) could not be reached, timed out, answered 5xx or 429 (busy), or
  was not the API at all; or the operation ran and reports a failure (a replayed event that
  failed again, a followed run that did not complete, no reply within the wait). The same
  command may work later.
- ``REFUSED`` (2): the command as given cannot succeed, the caller must change it: a usage
  error or bad value the CLI refuses before sending anything (a missing option, a file with
  bad rows, a job id prefix too short), or one the API refuses with a 4xx but 429 (400/422 a
  bad value, 401/403 a key refused, 404 nothing by that id, 409 not in a state that allows
  it). The same mistake exits 2 whether the CLI or the API catches it.
- ``INTERRUPTED`` (130): Ctrl-C, as a shell reports a process SIGINT ended.
"""

from __future__ import annotations

OK = 0
FAILED = 1
REFUSED = 2
INTERRUPTED = 130

#: The one 4xx that is not the caller's mistake: the API is busy, the same request may pass later.
TOO_MANY_REQUESTS = 429


def for_status(status_code: int) -> int:
    """The exit code of a command the API answered ``status_code`` (an error: 4xx or 5xx)."""
    if 400 <= status_code < 500 and status_code != TOO_MANY_REQUESTS:
        return REFUSED
    return FAILED
