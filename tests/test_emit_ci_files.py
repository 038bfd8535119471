"""The ready-made CI steps: the GitHub Action, the Azure DevOps template, the example workflow.

The YAML must parse and agree with itself: every input the example passes exists in the action,
every ``lineage emit`` the example runs produces a valid event (its ``${{ }}`` expressions replaced by
sample values), and the steps' shell scripts run for real (with the tool already installed, as a
second emit step in a job finds it) and turn problems into warnings unless strict.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from graph_schema.events import parse_event
from tests.emit_support import AZURE_DEVOPS, CI_VARIABLES, DIGEST, GITHUB, SHA, TOKEN, dead_url, emit

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
TEMPLATE = ROOT / "ci" / "azure-devops" / "lineage-emit.yml"
EXAMPLE = ROOT / "examples" / "github" / "mlops-taxi.yml"
VERBS = {"dataset", "training", "model", "image", "deployment", "flush"}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def lineage_steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(job name, job, step) for every step of the example that uses the lineage action."""
    return [(name, job, step) for name, job in workflow["jobs"].items() for step in job["steps"]
            if str(step.get("uses", "")).split("@")[0].endswith("/lineage-service") or step.get("uses") == "./"]


def test_the_action_is_a_composite_with_the_documented_inputs() -> None:
    action = load(ACTION)
    assert action["runs"]["using"] == "composite"
    assert {"verb", "args", "url", "token", "strict"} <= set(action["inputs"])
    assert action["inputs"]["strict"]["default"] == "false"
    assert [name for name, spec in action["inputs"].items() if spec.get("required")] == ["verb", "url"]
    (step,) = action["runs"]["steps"]
    assert step["shell"] == "bash"
    # Inputs reach the script through the environment only: no expression inside the script text.
    assert "${{" not in step["run"]


def test_the_azure_devops_template_takes_the_same_parameters() -> None:
    template = load(TEMPLATE)
    parameters = {p["name"]: p for p in template["parameters"]}
    assert {"verb", "args", "url", "token", "strict"} <= set(parameters)
    assert set(parameters["verb"]["values"]) == VERBS
    assert parameters["strict"] == {"name": "strict", "displayName": parameters["strict"]["displayName"],
                                    "type": "boolean", "default": False}
    (step,) = template["steps"]
    assert "${{" not in step["bash"]
    assert set(step["env"]) >= {"LINEAGE_URL", "LINEAGE_TOKEN", "LINEAGE_EMIT_VERB", "LINEAGE_EMIT_ARGS"}


def test_the_example_is_the_seed_pipeline_with_its_switches() -> None:
    workflow = load(EXAMPLE)
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert set(triggers["workflow_dispatch"]["inputs"]) == {"data_prep", "ai_training", "api_creation"}
    assert workflow["env"]["DATASET_VERSION"] == "latest"
    assert list(workflow["jobs"]) == ["data-prep", "ai-training", "api-creation", "deploy"]
    assert [workflow["jobs"][name].get("needs") for name in workflow["jobs"]] == [
        None, "data-prep", "ai-training", "api-creation"]


def test_the_example_passes_only_inputs_the_action_has() -> None:
    inputs = load(ACTION)["inputs"]
    required = {name for name, spec in inputs.items() if spec.get("required")}
    steps = lineage_steps(load(EXAMPLE))
    assert {step["with"]["verb"] for _, _, step in steps} == VERBS
    for job_name, _, step in steps:
        given = set(step["with"])
        assert given <= set(inputs), f"{job_name}: {given - set(inputs)} are not inputs of action.yml"
        assert required <= given, f"{job_name}: {required - given} are required by action.yml"


# Sample values for the step and job outputs the example's emit steps read.
SAMPLES = {"version": "8", "job": "bold_river_4t6w9p3m1s_prep_data", "green": "5", "yellow": "3",
           "train_job": "bold_river_4t6w9p3m1s_train_model", "pipeline": "bold_river_4t6w9p3m1s",
           "dataset_version": "8", "model_version": "3", "digest": DIGEST, "revision": "8"}


def substitute(text: str, workflow: dict[str, Any], job: dict[str, Any]) -> str:
    """Replace ``${{ … }}`` like the runner would; an expression the example should not need fails."""
    steps = {step["id"]: step for step in job["steps"] if "id" in step}

    def value(match: re.Match[str]) -> str:
        expression = match.group(1).strip()
        parts = expression.split(".")
        if parts[0] == "env":
            return str({**workflow["env"], **job.get("env", {})}[parts[1]])
        if expression == "github.sha":
            return SHA
        if parts[0] == "steps" and parts[2] == "outputs":
            step = steps[parts[1]]
            if "run" in step:  # the step's script must write that output
                assert f"{parts[3]}=" in step["run"], f"step {parts[1]} never writes output {parts[3]}"
            return SAMPLES[parts[3]]
        if parts[0] == "needs" and parts[2] == "outputs":
            assert parts[3] in workflow["jobs"][parts[1]].get("outputs", {}), f"job {parts[1]} has no {parts[3]}"
            return SAMPLES[parts[3]]
        raise AssertionError(f"unexpected expression in an emit step's args: {expression}")

    return re.sub(r"\$\{\{(.*?)\}\}", value, text)


@pytest.mark.parametrize("verb", sorted(VERBS - {"flush"}))
def test_every_emit_in_the_example_produces_a_valid_event(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          verb: str) -> None:
    monkeypatch.chdir(tmp_path)
    workflow = load(EXAMPLE)
    found = [(job, step) for _, job, step in lineage_steps(workflow) if step["with"]["verb"] == verb]
    assert found
    for job, step in found:
        args = shlex.split(substitute(step["with"].get("args", ""), workflow, job))
        result = emit(verb, *args, "--dry-run", env=GITHUB, spool=tmp_path / "spool.jsonl")
        assert result.exit_code == 0, result.output
        parse_event(json.loads(result.stdout))


# -- the steps' scripts, run for real ------------------------------------------------------------


def installed_tool(temp: Path) -> Path:
    """The venv a first emit step of the job would have left: this checkout's lineage, already installed."""
    venv = temp / "lineage-emit-venv"
    (venv / "bin").mkdir(parents=True)
    for name, target in (("python", Path(sys.executable)), ("lineage", Path(sys.executable).parent / "lineage")):
        wrapper = venv / "bin" / name
        wrapper.write_text(f'#!/bin/sh\nexec "{target}" "$@"\n')
        wrapper.chmod(0o755)
    return venv


def run_script(script: str, tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in CI_VARIABLES and not k.startswith("LINEAGE_")}
    completed = subprocess.run(["bash", "-c", script], env={**clean, **env}, cwd=tmp_path, capture_output=True,
                               text=True, timeout=120, check=False)
    assert "Traceback" not in completed.stdout + completed.stderr
    return completed


def run_action(tmp_path: Path, verb: str, args: str = "", *, url: str = "", strict: str = "false",
               token: str = "") -> subprocess.CompletedProcess[str]:
    temp = tmp_path / "runner-temp"
    if not temp.exists():
        (installed_tool(temp) / ".package").write_text(str(ROOT))  # the action installs its own checkout
    script = load(ACTION)["runs"]["steps"][0]["run"]
    return run_script(script, tmp_path, {
        **GITHUB, "RUNNER_TEMP": str(temp), "GITHUB_ACTION_PATH": str(ROOT), "LINEAGE_URL": url,
        "LINEAGE_TOKEN": token, "LINEAGE_EMIT_VERB": verb, "LINEAGE_EMIT_ARGS": args, "LINEAGE_EMIT_STRICT": strict,
        "LINEAGE_EMIT_PACKAGE": "", "LINEAGE_EMIT_PYTHON": "", "LINEAGE_SPOOL": str(tmp_path / "spool.jsonl")})


def test_the_action_splits_args_like_a_shell_without_expanding_them(tmp_path: Path) -> None:
    args = """taxi-model:3 --tag "note=two words" --tag 'cmd=$(touch pwned)'  # a comment
              --dry-run"""
    result = run_action(tmp_path, "model", args)
    assert result.returncode == 0, result.stderr
    event = json.loads(result.stdout)
    assert event["nodes"][0]["props"]["tags"] == {"note": "two words", "cmd": "$(touch pwned)"}
    assert not (tmp_path / "pwned").exists()


def test_the_action_warns_and_succeeds_unless_strict(tmp_path: Path) -> None:
    image = f"ghcr.io/nathansegers/azure-mlops-api@{DIGEST} --tag v1.2.3 --retries 1"
    relaxed = run_action(tmp_path, "image", image, url=dead_url(), token=TOKEN)
    assert relaxed.returncode == 0
    assert "::warning title=lineage emit::" in relaxed.stdout + relaxed.stderr
    assert len((tmp_path / "spool.jsonl").read_text().splitlines()) == 1
    # The token is registered as a secret for the log, and appears nowhere else.
    assert (relaxed.stdout + relaxed.stderr).count(TOKEN) == 1 and f"::add-mask::{TOKEN}" in relaxed.stdout

    strict = run_action(tmp_path, "image", image, url=dead_url(), strict="true")
    assert strict.returncode == 1
    assert "::error title=lineage emit::lineage emit image failed with exit code 1" in strict.stdout


@pytest.mark.parametrize(("verb", "args", "strict_code", "says"), [
    ("model", "taxi-model:three words", 2, "failed with exit code 2"),
    ("model", "'unbalanced", 2, "cannot split the args input"),
    ("publish", "", 2, "unknown verb 'publish'"),
])
def test_the_action_turns_usage_problems_into_warnings(tmp_path: Path, verb: str, args: str, strict_code: int,
                                                       says: str) -> None:
    relaxed = run_action(tmp_path, verb, args)
    assert relaxed.returncode == 0
    assert says in relaxed.stdout and "::warning title=lineage emit::" in relaxed.stdout
    strict = run_action(tmp_path, verb, args, strict="true")
    assert strict.returncode == strict_code
    assert says in strict.stdout


def run_template(tmp_path: Path, verb: str, args: str = "", *, url: str = "$(LINEAGE_URL)", strict: str = "False",
                 package: str = str(ROOT)) -> subprocess.CompletedProcess[str]:
    temp = tmp_path / "agent-temp"
    if not temp.exists():
        (installed_tool(temp) / ".package").write_text(str(ROOT))
    script = load(TEMPLATE)["steps"][0]["bash"]
    return run_script(script, tmp_path, {
        **AZURE_DEVOPS, "AGENT_TEMPDIRECTORY": str(temp), "LINEAGE_URL": url, "LINEAGE_TOKEN": "$(LINEAGE_TOKEN)",
        "LINEAGE_EMIT_VERB": verb, "LINEAGE_EMIT_ARGS": args, "LINEAGE_EMIT_STRICT": strict,
        "LINEAGE_EMIT_PACKAGE": package, "LINEAGE_EMIT_PYTHON": "", "LINEAGE_SPOOL": str(tmp_path / "spool.jsonl")})


def test_the_template_treats_an_undefined_variable_as_unset(tmp_path: Path) -> None:
    # $(LINEAGE_URL) stays literal when the pipeline defines no such variable: spooled, not sent to "$(…)".
    result = run_template(tmp_path, "model", "taxi-model:3 --job bold_river_4t6w9p3m1s_train_model")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "##vso[task.logissue type=warning]" in result.stderr and "LINEAGE_URL is not set" in result.stderr
    spooled = json.loads((tmp_path / "spool.jsonl").read_text())
    assert spooled["source"] == "azure-devops"


def test_the_template_succeeds_with_issues_unless_strict(tmp_path: Path) -> None:
    relaxed = run_template(tmp_path, "model", "taxi-model:3", package="$(LINEAGE_PACKAGE)")
    assert relaxed.returncode == 0
    assert "set LINEAGE_PACKAGE" in relaxed.stdout
    assert "##vso[task.complete result=SucceededWithIssues;]" in relaxed.stdout
    strict = run_template(tmp_path, "image", f"ghcr.io/nathansegers/azure-mlops-api@{DIGEST} --retries 1",
                          url=dead_url(), strict="True")
    assert strict.returncode == 1
    assert "##vso[task.logissue type=error]lineage emit: lineage emit image failed with exit code 1" in strict.stdout
