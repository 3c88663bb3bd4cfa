"""``tools/lint_deploy.py`` of ``make lint``: hadolint and the compose schema, for real, on
the repository's files and on broken ones written for each test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tools.lint_deploy import (
    REPO,
    compose_problems,
    dockerfiles,
    hadolint_problems,
    interpolate,
)


def test_the_repository_passes_its_own_deploy_lint() -> None:
    result = subprocess.run(
        [sys.executable, "tools/lint_deploy.py"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "clean" in result.stdout


def test_make_lint_runs_the_deploy_checks() -> None:
    lint = (REPO / "Makefile").read_text().split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "tools/lint_deploy.py" in lint


def test_the_service_dockerfile_is_linted() -> None:
    assert REPO / "deploy" / "docker" / "Dockerfile" in dockerfiles()


def test_hadolint_flags_an_unpinned_base_image_and_a_cd(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM python:latest\nRUN cd /tmp && make\n")
    problems = "\n".join(hadolint_problems([dockerfile]))
    assert "DL3007" in problems  # latest
    assert "DL3003" in problems  # cd instead of WORKDIR


def test_hadolint_passes_a_clean_dockerfile(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text('FROM python:3.11-slim\nUSER 10001\nCMD ["python"]\n')
    assert hadolint_problems([dockerfile]) == []


def test_a_compose_key_outside_the_specification_is_refused(tmp_path: Path) -> None:
    compose = tmp_path / "docker-compose.yml"
    compose.write_text("services:\n  api:\n    image: x\n    helthcheck: {test: [CMD, true]}\n")
    [problem] = compose_problems(compose)
    assert "helthcheck" in problem


def test_a_wrong_dependency_condition_is_refused(tmp_path: Path) -> None:
    compose = tmp_path / "docker-compose.yml"
    compose.write_text(
        "services:\n  migrate: {image: x}\n"
        "  api:\n    image: x\n    depends_on: {migrate: {condition: service_finished}}\n"
    )
    assert any("service_finished" in p for p in compose_problems(compose))


def test_a_dependency_on_no_service_and_an_undeclared_volume_are_reported(tmp_path: Path) -> None:
    compose = tmp_path / "docker-compose.yml"
    compose.write_text(
        "services:\n  api:\n    image: x\n    depends_on: [postgress]\n"
        "    volumes: [data:/data, ./local:/local]\n"
    )
    problems = compose_problems(compose)
    assert problems == [
        "docker-compose.yml: api depends on 'postgress', which is no service",
        "docker-compose.yml: api mounts volume 'data', declared nowhere",
    ]


def test_a_variable_without_a_default_is_a_problem_since_no_env_file_is_needed(
    tmp_path: Path,
) -> None:
    compose = tmp_path / "docker-compose.yml"
    compose.write_text("services:\n  api:\n    image: x\n    environment: {KEY: '${KEY}'}\n")
    [problem] = compose_problems(compose)
    assert "${KEY} has no default" in problem


def test_interpolation_takes_defaults_and_keeps_escaped_dollars() -> None:
    problems: list[str] = []
    assert interpolate("${A:-1}/${B-two}/${C:+set}/$$HOME", "x", problems) == "1/two//$HOME"
    assert problems == []
