"""``random_ids`` hands out version 4 UUIDs as ``uuid.uuid4()`` writes them, never the same one
twice: not to two threads, not to a forked child and its parent."""

from __future__ import annotations

import os
import threading
import uuid

from switchboard.common.random_ids import is_uuid4_str, uuid4_hex, uuid4_str


def test_ids_read_as_version_4_uuids_in_uuid4_s_text() -> None:
    for _ in range(2_000):  # several buffers' worth
        text, digits = uuid4_str(), uuid4_hex()
        assert str(uuid.UUID(text)) == text
        assert uuid.UUID(digits).hex == digits
        for made in (uuid.UUID(text), uuid.UUID(digits)):
            assert made.version == 4
            assert made.variant == uuid.RFC_4122


def test_threads_never_share_an_id() -> None:
    made: list[list[str]] = [[] for _ in range(8)]

    def take(into: list[str]) -> None:
        into.extend(uuid4_str() for _ in range(5_000))

    threads = [threading.Thread(target=take, args=(into,)) for into in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [made_id for into in made for made_id in into]
    assert len(set(every)) == len(every) == 40_000


def test_a_forked_child_does_not_repeat_its_parent_s_next_ids() -> None:
    uuid4_hex()  # the parent holds a buffer with ids left in it
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's side
        os.close(read)
        os.write(write, "".join(uuid4_hex() for _ in range(10)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        text = pipe.read().decode()
    os.waitpid(child, 0)
    childs = {text[i : i + 32] for i in range(0, len(text), 32)}
    parents = {uuid4_hex() for _ in range(10)}
    assert len(childs) == 10
    assert not childs & parents


def test_is_uuid4_str_takes_what_uuid4_str_makes_and_nothing_else() -> None:
    made = uuid4_str()
    assert is_uuid4_str(made) and is_uuid4_str(str(uuid.uuid4()))
    for other in (made.upper(), made[:-1] + "g", made.replace("-", " "), made + "\n", "x" * 36):
        assert not is_uuid4_str(other), other
