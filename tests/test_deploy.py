"""deploy/: the compose file and the Kubernetes manifests pass their schemas (offline, vendored), and
the image definition keeps its promises (base image as a build argument, non-root, package only)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from check_jsonschema.builtin_schemas import get_builtin_schema

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))
K8S_VERSION = "1.37.0"


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def _compose_errors(doc: dict[str, Any]) -> list[str]:
    schema = get_builtin_schema("vendor.compose-spec")
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [e.message for e in validator.iter_errors(doc)]


def test_compose_file_matches_the_compose_spec() -> None:
    doc = _documents(DEPLOY / "compose.yaml")[0]
    assert _compose_errors(doc) == []
    assert {"api", "worker", "postgres"} <= set(doc["services"])
    assert {"pgdata", "sandbox-home"} <= set(doc["volumes"])
    assert doc["services"]["worker"]["command"][0] == "worker"


def test_the_compose_check_rejects_a_broken_file() -> None:
    doc = copy.deepcopy(_documents(DEPLOY / "compose.yaml")[0])
    doc["services"]["api"]["ports"] = {"not": "a list"}
    assert _compose_errors(doc)


def test_the_compose_cli_check_passes_offline() -> None:
    cmd = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec"]
    result = subprocess.run([*cmd, str(DEPLOY / "compose.yaml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", MANIFESTS, ids=[p.name for p in MANIFESTS])
def test_kubernetes_manifests_validate_strictly(path: Path) -> None:
    for doc in _documents(path):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_manifests_cover_api_service_worker_secret_and_storage() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for p in MANIFESTS for d in _documents(p)}
    assert {
        ("Deployment", "sandbox-api"),
        ("Service", "sandbox-api"),
        ("Deployment", "sandbox-worker"),
        ("Secret", "sandbox"),
        ("PersistentVolumeClaim", "sandbox-home"),
    } <= kinds
    for p in MANIFESTS:
        for d in _documents(p):
            if d["kind"] == "Deployment":
                pod = d["spec"]["template"]["spec"]
                assert pod["securityContext"]["runAsNonRoot"] is True
                for c in pod["containers"]:
                    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_a_strict_check_rejects_an_unknown_field() -> None:
    doc = copy.deepcopy(_documents(DEPLOY / "k8s" / "worker.yaml")[0])
    doc["spec"]["template"]["spec"]["containers"][0]["imagePulPolicy"] = "Always"  # misspelt
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_dockerfile_takes_its_base_as_an_argument_and_runs_unprivileged() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines()]
    assert "ARG BASE_IMAGE=python:3.11-slim" in lines
    assert [line for line in lines if line.startswith("FROM ")] == [
        "FROM ${BASE_IMAGE} AS build",
        "FROM ${BASE_IMAGE}",
    ]
    user = [line for line in lines if line.startswith("USER ")]
    assert user and user[-1] != "USER root" and not user[-1].startswith("USER 0")
    copies = [line.split()[1] for line in lines if line.startswith("COPY ") and "--from" not in line]
    assert copies == ["pyproject.toml", "sandbox", "policies", "connectors"]  # no tests, no data
    assert json.loads(text.split("ENTRYPOINT ")[1].splitlines()[0]) == ["sandbox"]
