"""A recording's stored audio as an HTTP answer: whole or the one byte range asked for,
streamed from its file in 64 kB reads, with its ``Content-Length``.

Served by the API's download (bearer key) and the console's player (session cookie) alike:
an hour-long dual-channel call is about 115 MB, and a player asks for many ranges.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from fastapi import status
from fastapi.responses import Response, StreamingResponse

from switchboard.common.errors import NotFoundError
from switchboard.common.http_errors import error_response
from switchboard.common.integrations.storage import RecordingNotFound, RecordingStorage
from switchboard.domain.calls import queries as calls_query

#: One range, ``bytes=first-last``, ``bytes=first-`` or ``bytes=-suffix`` (what players send);
#: digits are bounded so no header can make us parse a huge number.
_RANGE = re.compile(r"bytes=(\d{0,18})-(\d{0,18})")
MEDIA_TYPE = "audio/wav"


def recording_audio_response(
    storage: RecordingStorage,
    business_id: int,
    call_id: int,
    recording_id: int,
    range_header: str | None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The audio of one recording of one call of this business; ``NotFoundError`` when there
    is none stored (not yet, gone from Twilio, removed after the retention period)."""
    key = calls_query.stored_recording_key(business_id, call_id, recording_id, storage)
    try:
        return _audio(storage, key, range_header, dict(headers or {}))
    except RecordingNotFound as exc:  # removed since it was found: retention, erasure
        raise NotFoundError(f"recording {recording_id} has no stored audio") from exc


def _audio(
    storage: RecordingStorage, key: str, range_header: str | None, headers: dict[str, str]
) -> Response:
    size = storage.size(key)
    headers["Accept-Ranges"] = "bytes"
    found = _RANGE.fullmatch(range_header.strip()) if range_header else None
    if found is None or found.groups() == ("", ""):
        # No range, or one we do not serve (several ranges, another unit): the whole file,
        # which RFC 9110 allows for any Range a server chooses to ignore.
        headers["Content-Length"] = str(size)
        return StreamingResponse(
            storage.chunks(key, 0, size), media_type=MEDIA_TYPE, headers=headers
        )
    first, last = found.group(1), found.group(2)
    if first == "":
        start, end = max(size - int(last), 0), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        # An error like any other (``{"code", "detail"}``), not audio: none of the download's
        # own headers (its ``Content-Disposition`` would save the JSON as a .wav).
        return error_response(
            status.HTTP_416_RANGE_NOT_SATISFIABLE,
            f"range {found.group(0)!r} holds no byte of the recording ({size} bytes): "
            f"ask for bytes 0 to {size - 1}",
            headers={"Accept-Ranges": "bytes", "Content-Range": f"bytes */{size}"},
        )
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(end - start + 1)
    return StreamingResponse(
        storage.chunks(key, start, end - start + 1),
        status_code=status.HTTP_206_PARTIAL_CONTENT,
        media_type=MEDIA_TYPE,
        headers=headers,
    )
