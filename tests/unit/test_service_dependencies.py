"""What each service installs, read from uv.lock: the gateway's heavy extras stay in the gateway."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: A requirement in the lock: a package, or one extra of it (``("openai", "realtime")``).
Node = tuple[str, str | None]


def locked_packages() -> dict[str, list[dict[str, Any]]]:
    """Every package of uv.lock by name (a name may be locked at several versions)."""
    packages: dict[str, list[dict[str, Any]]] = {}
    for package in tomllib.loads((ROOT / "uv.lock").read_text())["package"]:
        packages.setdefault(package["name"], []).append(package)
    return packages


def requirements(
    packages: dict[str, list[dict[str, Any]]], node: Node, *, unconditional: bool = False
) -> Iterator[Node]:
    """What ``node`` pulls in: its dependencies, or those of the extra (markers ignored, or,
    with ``unconditional``, a dependency with a marker, such as Windows only, left out)."""
    name, extra = node
    for package in packages[name]:
        if extra is None:
            deps = package.get("dependencies", [])
        else:
            deps = package.get("optional-dependencies", {}).get(extra, [])
        for dep in deps:
            if unconditional and "marker" in dep:
                continue
            yield dep["name"], None
            for dep_extra in dep.get("extra", []):
                yield dep["name"], dep_extra


def closure(root: str, *, unconditional: bool = False) -> dict[Node, set[Node]]:
    """Every requirement installed with ``root`` (its runtime dependencies), with who asks
    (``unconditional``: only what every platform installs)."""
    packages = locked_packages()
    parents: dict[Node, set[Node]] = {(root, None): set()}
    todo: list[Node] = [(root, None)]
    while todo:
        node = todo.pop()
        for child in requirements(packages, node, unconditional=unconditional):
            if child not in parents:
                parents[child] = set()
                todo.append(child)
            parents[child].add(node)
    return parents


def names(nodes: dict[Node, set[Node]]) -> set[str]:
    return {name for name, _ in nodes}


def test_the_realtime_extra_of_openai_adds_websockets() -> None:
    assert ("websockets", None) in set(requirements(locked_packages(), ("openai", "realtime")))


def test_the_gateway_installs_google_speech_and_openai_realtime() -> None:
    gateway = closure("switchboard-voice-gateway")
    assert "google-cloud-speech" in names(gateway)
    assert ("openai", "realtime") in gateway


@pytest.mark.parametrize(
    "service", ["switchboard-api", "switchboard-worker", "switchboard-scheduler"]
)
def test_other_services_install_neither_google_speech_nor_openai_realtime(service: str) -> None:
    installed = closure(service)
    assert "switchboard-voice-gateway" not in names(installed)
    assert "google-cloud-speech" not in names(installed)
    assert ("openai", "realtime") not in installed
    websockets = installed.get(("websockets", None), set())
    assert websockets <= {("uvicorn", "standard")}  # uvicorn's websocket protocol, not OpenAI's


def test_the_worker_installs_no_websockets_at_all() -> None:
    assert "websockets" not in names(closure("switchboard-worker"))


@pytest.mark.parametrize(
    "service", ["switchboard-api", "switchboard-worker", "switchboard-scheduler"]
)
def test_services_that_read_business_time_zones_install_the_zone_database(service: str) -> None:
    """The API checks a business's zone, the worker reads its calling window in it, the
    scheduler ticks in it: each needs IANA's database whether or not the image has one
    (Debian's slim images from trixie on do not)."""
    assert "tzdata" in names(closure(service, unconditional=True))
