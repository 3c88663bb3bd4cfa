"""``Idempotency-Key`` on the API's POSTs: a retried request answers what the first one did.

A client that lost a response (a timeout, a dropped connection) sends the same request again
with the same key; the work is not done twice. The first request with a key claims it (an
``idempotency_keys`` row of its business, committed at once) and, once answered, stores the
status and body: a repeat with the same method, path, query and body gets them back byte for
byte (with ``Idempotent-Replayed: true``) and does nothing. The same key with another request
is a 422 naming the header; a repeat while the first still runs is a 409. Without the header
nothing changes. docs/api.md says this for clients.

Crash safety. The claim is a lease (``LEASE``) held by a token: a request whose process died
leaves a row that a repeat takes over once the lease ran out. The work's own transaction, a
tenant unit of work of the same business, marks the row ``work_committed`` as it commits
(``_fence``, a ``before_commit`` hook), only while the row still carries this request's token:
the work and the mark commit together, and a request whose key was taken over meanwhile rolls
its work back (409). A row marked but never answered (the process died between the commit and
the store) is never taken over: a repeat is a 409 saying so, never a second effect.

What is kept: every answer once the work committed, and any answer below 400; a refusal that
changed nothing (a 404, a 409, a body that fails validation, an error) frees the key, so the
request can be sent again. Keys are kept ``KEEP`` (24 hours) and deleted as the business sends
new ones (:func:`_claim`), each under row-level security like the business's other rows.

Wiring: :func:`install_idempotency` (once, in ``app.py``) adds the middleware, which holds a
keyed request's response until it is stored, and the handler that answers a repeat; each POST
route opts in with ``dependencies=[Idempotent]``, which checks the header, hashes the request
and claims the key.
"""

from __future__ import annotations

import hashlib
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy import delete, event, select, update
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard.api.deps import CurrentBusiness
from switchboard.common.db.base import as_utc, utcnow
from switchboard.common.db.tenancy import tenant_session
from switchboard.common.db.upsert import insert_ignoring_conflicts
from switchboard.common.errors import ConflictError
from switchboard.common.keyed_hash import keyed_hash
from switchboard.common.logging import get_logger
from switchboard.common.models import IdempotencyKey

log = get_logger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
#: How long a key and its answer are kept.
KEEP = timedelta(hours=24)
#: How long a request holds its key before a repeat may take it over (its process died).
LEASE = timedelta(seconds=60)
#: Printable ASCII, the space included.
_PRINTABLE_ASCII = r"^[\x20-\x7e]+$"
_HEADER_NAME = HEADER.lower().encode()
_SCOPE_KEY = "switchboard.idempotency"
_MARKED = "switchboard.idempotency_marked"  # session.info: this commit marks the claim
#: Keeps the request hashes apart from any other use of the secret (migration 0035 uses it).
_REQUEST_PURPOSE = b"switchboard idempotency request v1"


@dataclass
class Claim:
    """A key this request holds: its row, and the token that proves it still does."""

    business_id: int
    row_id: int
    token: str
    work_committed: bool = False


@dataclass(frozen=True)
class _Stored:
    status: int
    body: bytes


@dataclass
class _Keyed:
    """A POST that carries the header, as the middleware follows it."""

    claim: Claim | None = None
    settled: bool = False


_current: ContextVar[_Keyed | None] = ContextVar("switchboard_idempotency", default=None)


class Replay(Exception):
    """Answer with the first request's stored response."""

    def __init__(self, stored: _Stored) -> None:
        super().__init__(stored.status)
        self.stored = stored


def _claim(business_id: int, key: str, request_hash: str) -> Claim | _Stored:
    """Claim ``key`` for this request, or say what the first request with it answered."""
    now = utcnow()
    token = uuid.uuid4().hex
    table: Any = IdempotencyKey.__table__
    with tenant_session(business_id) as session:
        session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.business_id == business_id, IdempotencyKey.created_at < now - KEEP
            )
        )
        insert_ignoring_conflicts(
            session,
            table,
            {
                "business_id": business_id,
                "key": key,
                "request_hash": request_hash,
                "token": token,
                "lease_until": now + LEASE,
            },
        )
        row = session.execute(
            select(IdempotencyKey)
            .where(IdempotencyKey.key == key, IdempotencyKey.business_id == business_id)
            .with_for_update()
        ).scalar_one()
        if row.token == token:
            return Claim(business_id, row.id, token)
        if row.request_hash != request_hash:
            raise RequestValidationError(
                [
                    {
                        "loc": ("header", HEADER),
                        "msg": "this key was used for another request (method, path or body "
                        "differ): send a new key",
                        "type": "idempotency_key_reused",
                        "input": key,
                    }
                ]
            )
        if row.status_code is not None:
            return _Stored(row.status_code, row.body or b"")
        if row.work_committed:
            raise HTTPException(
                409,
                f"the request with this {HEADER} was carried out but its response was not "
                "kept: read the result rather than sending it again",
            )
        if as_utc(row.lease_until) > now:
            raise HTTPException(
                409,
                f"a request with this {HEADER} is still in progress: retry shortly",
                headers={"Retry-After": "1"},
            )
        row.token, row.lease_until = token, now + LEASE  # its holder died: taken over
        return Claim(business_id, row.id, token)


def _store(claim: Claim, status: int, body: bytes) -> None:
    with tenant_session(claim.business_id) as session:
        session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == claim.row_id, IdempotencyKey.token == claim.token)
            .values(status_code=status, body=body)
        )


def _release(claim: Claim) -> None:
    with tenant_session(claim.business_id) as session:
        session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.id == claim.row_id,
                IdempotencyKey.token == claim.token,
                IdempotencyKey.work_committed.is_(False),
            )
        )


@event.listens_for(Session, "before_commit")
def _fence(session: Session) -> None:
    # The request's work commits with the mark, and only while the key is still its own.
    keyed = _current.get()
    claim = keyed.claim if keyed is not None and not keyed.settled else None
    if claim is None or session.info.get("business_id") != claim.business_id:
        return
    result: Any = session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.id == claim.row_id, IdempotencyKey.token == claim.token)
        .values(work_committed=True)
    )
    if not result.rowcount:
        raise ConflictError(
            f"a repeat of this request took its {HEADER} over: this one changed nothing"
        )
    session.info[_MARKED] = claim


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    claim = session.info.pop(_MARKED, None)
    if claim is not None:
        claim.work_committed = True


async def _idempotency_key(
    request: Request,
    business_id: CurrentBusiness,
    key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            min_length=1,
            max_length=MAX_KEY_LENGTH,
            pattern=_PRINTABLE_ASCII,
            description="A unique string (printable ASCII, at most 255): a repeat of this "
            "request with the same key within 24 hours answers what the first one did, "
            "without doing it again; the key with another request is a 422, a repeat while "
            "the first runs a 409",
        ),
    ] = None,
) -> None:
    if key is None:
        return
    keyed = request.scope.get(_SCOPE_KEY)
    if not isinstance(keyed, _Keyed):
        raise RuntimeError("the app has no idempotency middleware: call install_idempotency")
    request_hash = await _request_hash(request)
    outcome = await run_in_threadpool(_claim, business_id, key, request_hash)
    if isinstance(outcome, _Stored):
        raise Replay(outcome)
    keyed.claim = outcome


_FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")
_CHUNK = 64 * 1024


async def _request_hash(request: Request) -> str:
    """A keyed hash (``common/keyed_hash.py``) of the SHA-256 of the method, path, query and
    body. Keyed: a body naming only a number (an erasure's, a lead's) must not be found again
    by hashing every number there is, which a plain hash allows, the person erased or not. A
    form is hashed as its fields and files (already read by the route's parameters), not its
    bytes: a client sending the same upload again picks another multipart boundary."""
    scope = request.scope
    digest = hashlib.sha256()
    for part in (scope["method"].encode(), scope["path"].encode(), scope["query_string"]):
        _length_prefixed(digest, part)
    if request.headers.get("content-type", "").startswith(_FORMS):
        for name, value in (await request.form()).multi_items():
            _length_prefixed(digest, name.encode())
            if isinstance(value, UploadFile):
                _length_prefixed(digest, (value.filename or "").encode())
                while chunk := await value.read(_CHUNK):
                    digest.update(chunk)
                await value.seek(0)
            else:
                _length_prefixed(digest, value.encode())
    else:
        digest.update(await request.body())
    return keyed_hash(_REQUEST_PURPOSE, digest.hexdigest().encode())


def _length_prefixed(digest: Any, part: bytes) -> None:
    digest.update(b"%d:%s" % (len(part), part))


#: ``dependencies=[Idempotent]`` on a POST route: it honours ``Idempotency-Key``.
Idempotent = Depends(_idempotency_key)


async def _settle(keyed: _Keyed, status: int | None, body: bytes) -> None:
    """Store the answer, or free the key when the request changed nothing and failed."""
    claim = keyed.claim
    keyed.settled = True
    if claim is None:
        return
    try:
        if status is not None and (claim.work_committed or status < 400):
            await run_in_threadpool(_store, claim, status, body)
        else:
            await run_in_threadpool(_release, claim)
    except Exception as exc:  # the answer still goes out; the key stays claimed (see above)
        log.warning("api.idempotency_key_not_settled", error=type(exc).__name__)


class IdempotencyMiddleware:
    """Follows the POSTs that carry the header: holds the response of a request that claimed
    its key until it is stored. Any other request passes untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not _has_key(scope):
            await self.app(scope, receive, send)
            return
        keyed = _Keyed()
        scope[_SCOPE_KEY] = keyed
        held: list[Message] = []

        async def holding_send(message: Message) -> None:
            if keyed.claim is None or keyed.settled:
                await send(message)
                return
            held.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                body = b"".join(m.get("body", b"") for m in held[1:])
                await _settle(keyed, held[0]["status"], body)
                for part in held:
                    await send(part)

        reset = _current.set(keyed)
        try:
            await self.app(scope, receive, holding_send)
        except BaseException:
            if not keyed.settled:
                await _settle(keyed, None, b"")
            raise
        finally:
            _current.reset(reset)


def _has_key(scope: Scope) -> bool:
    return any(name == _HEADER_NAME for name, _ in scope["headers"])


async def _replay(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, Replay)
    stored = exc.stored
    return Response(
        stored.body,
        status_code=stored.status,
        media_type="application/json",
        headers={REPLAYED_HEADER: "true"},
    )


def install_idempotency(app: FastAPI) -> None:
    """Honour ``Idempotency-Key`` on the routes that depend on :data:`Idempotent`."""
    app.add_exception_handler(Replay, _replay)
    app.add_middleware(IdempotencyMiddleware)
