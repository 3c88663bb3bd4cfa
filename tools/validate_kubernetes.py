"""Validate deploy/kubernetes/ against Kubernetes' and KEDA's schemas, with no cluster.

Each kustomization (the base, every overlay) is rendered here, then every object it
renders is checked against its kind's JSON schema: the built-in kinds against Kubernetes'
own, strict (an unknown field fails), as the ``kubernetes-validate`` package ships them; KEDA's
``ScaledObject`` and ``TriggerAuthentication`` against the schemas in
deploy/kubernetes/schemas/ (a subset of KEDA's CRD, its source noted in each). A kind with no
schema fails. Then what a schema cannot see: every Deployment's containers have readiness
and liveness probes and resource requests, and every Secret, ConfigMap, claim and scale
target named exists, with the keys named.

The renderer does the part of kustomize these files use (``resources``, ``namespace``,
``images``, ``replicas``, ``patches`` with a strategic-merge ``path``) and refuses any other
field, so a kustomization that grows past it fails here rather than passing unchecked.

    python tools/validate_kubernetes.py [KUSTOMIZATION_DIR ...]   # default: base + overlays
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from kubernetes_validate import utils as kubernetes_schemas
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy" / "kubernetes"
SCHEMAS = DEPLOY / "schemas"
#: The oldest Kubernetes the manifests are written for (policy/v1, batch/v1 TTL, probes).
KUBERNETES_VERSION = "1.30"
KUSTOMIZE_FIELDS = {"apiVersion", "kind", "resources", "namespace", "images", "replicas", "patches"}
CLUSTER_SCOPED = {"Namespace"}

Object = dict[str, Any]


class ManifestError(Exception):
    """A manifest or kustomization that cannot be rendered or fails a check."""


def _documents(path: Path) -> list[Object]:
    with path.open() as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc]


def _key(obj: Object) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def _merge(base: Any, patch: Any) -> Any:
    """Strategic merge, as far as these files need: maps merge, lists of named maps (containers,
    env, ports, volumes) merge by name, anything else is replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    if not (isinstance(base, list) and isinstance(patch, list) and patch):
        return patch
    if all(isinstance(item, dict) and "name" in item for item in [*base, *patch]):
        by_name = {item["name"]: item for item in base}
        merged_list = [_merge(by_name[i["name"]], i) if i["name"] in by_name else i for i in patch]
        patched = {item["name"] for item in patch}
        return [item for item in base if item["name"] not in patched] + merged_list
    return patch


def _pod_spec(obj: Object) -> Object | None:
    template = obj.get("spec", {}).get("template")
    return template.get("spec") if template else None


def _containers(obj: Object) -> Iterator[Object]:
    spec = _pod_spec(obj)
    if spec is not None:
        yield from spec.get("initContainers", [])
        yield from spec.get("containers", [])


def _retag(obj: Object, images: list[Object]) -> None:
    for container in _containers(obj):
        name, _, tag = container["image"].partition(":")
        for image in images:
            if image["name"] == name:
                new_tag = image.get("newTag", tag)
                container["image"] = image.get("newName", name) + (f":{new_tag}" if new_tag else "")


def render(directory: Path) -> list[Object]:
    """The objects ``kustomize build directory`` would print, for the fields used here."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KUSTOMIZE_FIELDS
    if unknown:
        raise ManifestError(f"{directory}: kustomization fields not rendered here: {unknown}")
    objects: list[Object] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        objects += render(path) if path.is_dir() else _documents(path)
    by_key = {_key(obj): obj for obj in objects}
    for patch_entry in kustomization.get("patches", []):
        if set(patch_entry) != {"path"}:
            raise ManifestError(f"{directory}: only strategic-merge `path` patches: {patch_entry}")
        for patch in _documents(directory / patch_entry["path"]):
            target = by_key.get(_key(patch))
            if target is None:
                raise ManifestError(f"{directory}: patch for a missing object {_key(patch)}")
            target.update(_merge(target, patch))
    for obj in objects:
        if "namespace" in kustomization and obj["kind"] not in CLUSTER_SCOPED:
            obj["metadata"]["namespace"] = kustomization["namespace"]
        _retag(obj, kustomization.get("images", []))
    for replicas in kustomization.get("replicas", []):
        target = by_key.get(("Deployment", replicas["name"]))
        if target is None:
            raise ManifestError(f"{directory}: replicas for a missing Deployment {replicas}")
        target["spec"]["replicas"] = replicas["count"]
    return copy.deepcopy(objects)


def _kubernetes_definitions() -> Resource[Any]:
    version = next(
        v for v in reversed(kubernetes_schemas.all_versions()) if v.startswith(KUBERNETES_VERSION)
    )
    package = resources.files("kubernetes_validate") / "kubernetes-json-schema"
    path = package / f"v{version}-local-strict" / "_definitions.json"
    return Resource.from_contents(json.loads(path.read_text()))


def check_schema(obj: Object) -> None:
    """Raise ManifestError unless the object matches its kind's schema."""
    name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
    group = obj.get("apiVersion", "").split("/")[0]
    if group == "keda.sh":
        path = SCHEMAS / f"{obj['kind'].lower()}-keda-v1alpha1.json"
        if not path.exists():
            raise ManifestError(f"{name}: no schema for KEDA kind {obj['kind']}")
        registry: Registry[Any] = _kubernetes_definitions() @ Registry()
        validator = jsonschema.Draft202012Validator(json.loads(path.read_text()), registry=registry)
        errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.path))
        if errors:
            where = ".".join(str(p) for p in errors[0].path)
            raise ManifestError(f"{name}: {where}: {errors[0].message}")
        return
    try:
        kubernetes_schemas.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_schemas.SchemaNotFoundError as exc:
        raise ManifestError(f"{name}: {exc.message}") from exc
    except kubernetes_schemas.ValidationError as exc:
        where = ".".join(str(p) for p in exc.path)
        raise ManifestError(f"{name}: {where}: {exc.message}") from exc


def _secret_keys(obj: Object) -> set[str]:
    return set(obj.get("data", {})) | set(obj.get("stringData", {}))


def check_references(objects: list[Object]) -> list[str]:
    """What a schema cannot see: probes, requests, and the names one object gives another."""
    problems = []
    keys = {
        ("Secret", o["metadata"]["name"]): _secret_keys(o) for o in objects if o["kind"] == "Secret"
    }
    keys |= {
        ("ConfigMap", o["metadata"]["name"]): set(o.get("data", {}))
        for o in objects
        if o["kind"] == "ConfigMap"
    }
    names = {_key(o) for o in objects}

    def need(kind: str, name: str, key: str | None, where: str) -> None:
        if (kind, name) not in names:
            problems.append(f"{where}: no {kind} {name}")
        elif key is not None and key not in keys[(kind, name)]:
            problems.append(f"{where}: {kind} {name} has no key {key}")

    for obj in objects:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        for container in _containers(obj):
            for source in container.get("envFrom", []):
                for kind, ref in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                    if ref in source:
                        need(kind, source[ref]["name"], None, where)
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref is not None:
                    need("Secret", ref["name"], ref["key"], where)
            if obj["kind"] == "Deployment":
                for probe in ("readinessProbe", "livenessProbe"):
                    if probe not in container:
                        problems.append(f"{where}: container {container['name']} has no {probe}")
                if not container.get("resources", {}).get("requests"):
                    problems.append(f"{where}: container {container['name']} requests nothing")
        for volume in (_pod_spec(obj) or {}).get("volumes", []):
            if "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                need("PersistentVolumeClaim", claim, None, where)
        if obj["kind"] == "ScaledObject":
            need("Deployment", obj["spec"]["scaleTargetRef"]["name"], None, where)
            for trigger in obj["spec"]["triggers"]:
                if "authenticationRef" in trigger:
                    need("TriggerAuthentication", trigger["authenticationRef"]["name"], None, where)
        if obj["kind"] == "TriggerAuthentication":
            for ref in obj["spec"].get("secretTargetRef", []):
                need("Secret", ref["name"], ref["key"], where)
    return problems


def validate(directory: Path) -> list[str]:
    """Every problem of one kustomization's rendered objects (empty: all valid)."""
    try:
        objects = render(directory)
    except (ManifestError, OSError, yaml.YAMLError, KeyError) as exc:
        return [f"cannot render: {exc}"]
    problems = []
    for obj in objects:
        try:
            check_schema(obj)
        except ManifestError as exc:
            problems.append(str(exc))
    return problems + check_references(objects)


def kustomizations() -> list[Path]:
    """The base and every overlay."""
    return sorted(path.parent for path in DEPLOY.rglob("kustomization.yaml"))


def main(argv: list[str]) -> int:
    """Validate the given kustomization directories (default: all); 1 if any problem."""
    directories = [Path(arg).resolve() for arg in argv] or kustomizations()
    failed = False
    for directory in directories:
        shown = directory.relative_to(ROOT) if directory.is_relative_to(ROOT) else directory
        problems = validate(directory)
        for problem in problems:
            print(f"{shown}: {problem}")
        failed = failed or bool(problems)
        if not problems:
            count = len(render(directory))
            print(f"{shown}: {count} objects valid (Kubernetes {KUBERNETES_VERSION}, KEDA)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
