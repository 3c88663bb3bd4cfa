"""Only the voice gateway may start threads."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = [ROOT / "libs", ROOT / "services"]
ALLOWED = ROOT / "services" / "voice-gateway"
EXECUTORS = {
    "ThreadPoolExecutor",
    "ProcessPoolExecutor",
    "to_thread",
    "run_in_executor",
    "start_new_thread",
}


def thread_starts(tree: ast.AST) -> list[tuple[int, str]]:
    """Lines that create a thread, subclass Thread, or spin up an ad-hoc executor."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
                if name == "Thread":
                    found.append((node.lineno, f"class {node.name}(Thread)"))
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "Thread" or name in EXECUTORS:
                found.append((node.lineno, f"{name}(...)"))
        elif isinstance(node, ast.ImportFrom) and node.module in ("threading", "_thread"):
            for alias in node.names:
                if alias.name in ("Thread", "start_new_thread"):
                    found.append((node.lineno, f"from {node.module} import {alias.name}"))
    return sorted(found)


def test_the_scanner_recognises_every_way_to_start_a_thread() -> None:
    source = (
        "import threading, _thread, asyncio\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "threading.Thread(target=print).start()\n"
        "class Worker(threading.Thread): pass\n"
        "_thread.start_new_thread(print, ())\n"
        "ThreadPoolExecutor(2)\n"
        "asyncio.to_thread(print)\n"
    )
    assert sorted(line for line, _ in thread_starts(ast.parse(source))) == [3, 4, 5, 6, 7]


def test_no_code_outside_the_voice_gateway_starts_a_thread() -> None:
    offenders = []
    for root in SCANNED:
        for path in root.rglob("*.py"):
            if ALLOWED in path.parents or ".venv" in path.parts:
                continue
            for line, what in thread_starts(ast.parse(path.read_text(), str(path))):
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {what}")
    assert offenders == []
