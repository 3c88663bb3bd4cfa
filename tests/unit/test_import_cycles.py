"""The import cycle check of ``make lint``, on small packages written for each test."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tools.import_cycles import PACKAGE, find_cycles, import_graph, main, product_roots


def _write(root: Path, files: dict[str, str]) -> None:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)


@pytest.fixture
def package() -> str:
    """A package name no other test (nor sys.modules) has seen."""
    return f"cycles_{uuid.uuid4().hex[:8]}"


def test_a_cycle_through_three_modules_is_reported_as_a_chain(tmp_path: Path, package: str) -> None:
    _write(
        tmp_path,
        {
            f"{package}/__init__.py": "",
            f"{package}/a.py": f"from {package} import b\n",
            f"{package}/b.py": f"from {package}.c import thing\n",
            f"{package}/c.py": f"import {package}.a\nthing = 1\n",
            f"{package}/d.py": f"from {package} import a\n",  # imports the cycle, not in it
        },
    )

    cycles = find_cycles(import_graph(package, [tmp_path]))

    assert cycles == [[f"{package}.a", f"{package}.b", f"{package}.c", f"{package}.a"]]


def test_deferred_and_type_checking_imports_count_across_namespace_portions(
    tmp_path: Path, package: str
) -> None:
    _write(
        tmp_path / "one",
        {
            f"{package}/left/__init__.py": "",
            f"{package}/left/port.py": (
                "def build():\n"
                f"    from {package}.right.adapter import Adapter\n"
                "    return Adapter()\n"
            ),
        },
    )
    _write(
        tmp_path / "two",
        {
            f"{package}/right/__init__.py": "",
            f"{package}/right/adapter.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                f"    from {package}.left import port\n"
                "class Adapter: ...\n"
            ),
        },
    )

    cycles = find_cycles(import_graph(package, [tmp_path / "one", tmp_path / "two"]))

    port, adapter = f"{package}.left.port", f"{package}.right.adapter"
    assert cycles == [[port, adapter, port]]


def test_a_package_without_cycles_passes(tmp_path: Path, package: str) -> None:
    _write(
        tmp_path,
        {
            f"{package}/__init__.py": f"from {package}.a import A\n",
            f"{package}/a.py": f"from {package} import b\nA = b.B\n",
            f"{package}/b.py": "B = 1\n",
        },
    )

    assert find_cycles(import_graph(package, [tmp_path])) == []


def test_two_separate_cycles_are_both_reported() -> None:
    graph = {
        "p.a": {"p.b"},
        "p.b": {"p.a", "p.c"},
        "p.c": set(),
        "p.x": {"p.y"},
        "p.y": {"p.z"},
        "p.z": {"p.x", "p.y"},
    }

    assert find_cycles(graph) == [
        ["p.a", "p.b", "p.a"],
        ["p.x", "p.y", "p.z", "p.x"],
        ["p.y", "p.z", "p.y"],
    ]


def test_the_product_roots_are_every_src_folder_of_the_switchboard_package() -> None:
    roots = {root.relative_to(root.parents[2]).as_posix() for root in product_roots()}

    assert {"libs/common/src", "libs/domain/src", "services/api/src", "apps/cli/src"} <= roots
    assert "services/worker/src" in roots


def test_the_product_has_no_import_cycles() -> None:
    assert find_cycles(import_graph(PACKAGE, product_roots())) == []


def test_the_command_prints_each_cycle_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(
        tmp_path,
        {
            "switchboard/loop/__init__.py": "",
            "switchboard/loop/a.py": "from switchboard.loop import b\n",
            "switchboard/loop/b.py": "from switchboard.loop import a\n",
        },
    )

    assert main([str(tmp_path), *map(str, product_roots())]) == 1

    out = capsys.readouterr().out
    assert "switchboard.loop.a -> switchboard.loop.b -> switchboard.loop.a" in out
