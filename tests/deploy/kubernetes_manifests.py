"""Reading deploy/kubernetes/ and checking Kubernetes objects offline against the official
schemas (``kubernetes-validate``, strict: an unknown field fails)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

FOLDER = Path(__file__).parents[2] / "deploy" / "kubernetes"
VERSIONS = ("1.30", "1.33", "1.36")
"""Kubernetes versions the manifests must be valid for (oldest supported to newest here)."""


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def manifests() -> list[Path]:
    return sorted(p for p in FOLDER.glob("*.yaml") if p.name != "kustomization.yaml")


def problems(obj: dict[str, Any], version: str) -> str | None:
    """Why ``obj`` is not a valid object of Kubernetes ``version`` (None: it is)."""
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = "/".join(str(p) for p in exc.path)
        return f"{obj.get('kind')} {obj.get('metadata', {}).get('name')}: {where}: {exc.message}"
    return None


def role_verbs() -> set[tuple[str, str]]:
    """(resource, verb) of every rule of the provisioner's Role."""
    [role] = [d for d in documents(FOLDER / "provisioner.yaml") if d["kind"] == "Role"]
    return {
        (resource, verb)
        for rule in role["rules"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
