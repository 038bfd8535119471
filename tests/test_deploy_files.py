"""The Dockerfile, the compose file and the Kubernetes manifests, read by the parsers that use them.

No image can be built here (no engine, and base images cannot be pulled), so these check what can
go wrong without one: manifests that the kubernetes client's own models reject, probes on routes
the service lacks, a root user, commands the CLI would refuse, config the collectors cannot read.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient
from typer.testing import CliRunner

from cli.main import app
from lineage_service.api.app import create_app
from lineage_service.collect_config import build, load_sources
from lineage_service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "deploy" / "kubernetes" / "base"
MODELS = {"Deployment": "V1Deployment", "Service": "V1Service", "CronJob": "V1CronJob", "Secret": "V1Secret"}


def manifests() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    return [yaml.safe_load((BASE / name).read_text()) for name in kustomization["resources"]]


def service_routes() -> set[str]:
    return set(create_app(Settings(store="sqlite:///unused.db")).openapi()["paths"])  # type: ignore[call-arg]


@pytest.mark.parametrize("document", manifests(), ids=lambda d: d["kind"])
def test_each_manifest_is_a_valid_kubernetes_object(document: dict[str, Any]) -> None:
    model = ApiClient().deserialize(json.dumps(document), MODELS[document["kind"]], "application/json")
    assert model.metadata.name == document["metadata"]["name"]
    # The client drops what its model does not know: a typo in a field name shows up here.
    assert ApiClient().sanitize_for_serialization(model) == document


def pod_specs() -> list[tuple[str, dict[str, Any]]]:
    specs = []
    for document in manifests():
        if document["kind"] == "Deployment":
            specs.append((document["metadata"]["name"], document["spec"]["template"]["spec"]))
        elif document["kind"] == "CronJob":
            specs.append((document["metadata"]["name"], document["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
    return specs


@pytest.mark.parametrize(("name", "pod"), pod_specs())
def test_pods_run_as_non_root_without_privileges(name: str, pod: dict[str, Any]) -> None:
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    for container in pod["containers"]:
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"].get("privileged", False) is False
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_probes_ask_routes_the_service_has() -> None:
    routes = service_routes()
    deployment = next(d for d in manifests() if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    probes = {kind: container[kind]["httpGet"]["path"] for kind in ("livenessProbe", "readinessProbe", "startupProbe")}
    assert probes["readinessProbe"] == "/readyz" and probes["livenessProbe"] == "/healthz"
    assert set(probes.values()) <= routes


def test_the_collectors_config_shipped_with_the_manifests_is_valid() -> None:
    # Parsed, and each collector built from its config, as `lineage collect --config` does.
    sources = load_sources(BASE / "lineage.yaml")
    assert [build(source).name for source in sources] == ["git"]


@pytest.mark.parametrize("args", [
    next(d for d in manifests() if d["kind"] == "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    ["containers"][0]["args"],
    yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["collectors"]["command"],
])
def test_container_commands_are_ones_the_cli_accepts(args: list[str], tmp_path: Path) -> None:
    # Point the config at the shipped example; its repository is absent here, so the run reports a
    # failure (exit 1), but a command the CLI does not understand would be a usage error (exit 2).
    args = [str(BASE / "lineage.yaml") if a == "/config/lineage.yaml" else a for a in args]
    args = [a for i, a in enumerate(args) if a != "--every" and (i == 0 or args[i - 1] != "--every")]
    result = CliRunner().invoke(app, args, env={"LINEAGE_STORE": f"sqlite:///{tmp_path / 'l.db'}", "LINEAGE_URL": ""})
    assert result.exit_code in (0, 1), result.output


def test_compose_starts_the_service_after_neo4j_is_healthy_and_binds_loopback() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["lineage"]["depends_on"]["neo4j"]["condition"] == "service_healthy"
    assert "cypher-shell" in " ".join(services["neo4j"]["healthcheck"]["test"])
    assert all(port.startswith("127.0.0.1:") for s in services.values() for port in s.get("ports", []))
    assert "neo4j-data" in compose["volumes"]
    assert services["lineage"]["environment"]["LINEAGE_STORE"].startswith("bolt://neo4j:")


def test_dockerfile_runs_as_a_numeric_non_root_user_with_a_healthcheck_and_labels() -> None:
    text = (ROOT / "Dockerfile").read_text()
    final_stage = text.rsplit("\nFROM ", 1)[1]
    assert re.search(r"^USER [1-9][0-9]*$", final_stage, re.MULTILINE)
    assert "/healthz" in final_stage and "HEALTHCHECK" in final_stage
    for label in ("org.opencontainers.image.revision", "org.opencontainers.image.version"):
        assert label in final_stage
    # Every directory the build copies exists, and together they are the packages pyproject ships.
    copied = set(re.findall(r"^COPY (\w+) \1$", text, re.MULTILINE))
    assert all((ROOT / name).is_dir() for name in copied)
    assert copied == {name.rstrip("*") for name in _pyproject_packages()}


def _pyproject_packages() -> list[str]:
    import tomllib

    return list(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
                ["include"])
