"""The taxi-fare workspace of the seeds as real ``azure.ai.ml.entities`` objects.

Built the two ways users build them: the pipeline with ``load_job`` from
``fixtures/azureml/taxi-training-pipeline.yml``, everything else with the entity constructors.
What the service adds on submission (status, creation time, the ``azureml.git.*`` properties) is
set as the SDK sets it when it reads a job back: jobs keep status and creation context read-only,
so those two are assigned to the attributes ``Job._from_rest_object`` fills.

The story, after ``lineage_service.demo.history``: pipeline ``bold_river_4t6w9p3m1s`` ran the prep
change (commit 5b7e2c9) on ``green-taxi-data@latest`` (version 5 then; 6 came later) and
``yellow-taxi-data:3``, registered ``taxi-train-data:8``/``taxi-test-data:8``; its train step
produced ``taxi-model:3``, served by online deployment ``taxi-fare-online/blue`` (API v1.2.3) and
batch deployment ``taxi-fare-batch/nightly``. A command job run from a laptop with uncommitted
changes (``azureml.git.dirty=True``) produced ``taxi-model:4``.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from pathlib import Path

with warnings.catch_warnings():
    # The SDK's marshmallow schemas warn about marshmallow 4 as they load: nothing to act on here.
    warnings.simplefilter("ignore", DeprecationWarning)
    from azure.ai.ml import Input, Output, load_job
    from azure.ai.ml.entities import (
        BatchEndpoint,
        CodeConfiguration,
        CommandJob,
        Data,
        Environment,
        Job,
        ManagedOnlineDeployment,
        ManagedOnlineEndpoint,
        Model,
        ModelBatchDeployment,
        ResourceConfiguration,
        SystemData,
    )

from collectors.azureml_values import Workspace

__all__ = ["CommandJob", "Environment", "Input", "ManagedOnlineDeployment", "Model"]  # for the tests

FIXTURES = Path(__file__).parent / "fixtures" / "azureml"
SUBSCRIPTION = "5f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
WORKSPACE = Workspace(SUBSCRIPTION, "rg-mlops-prod", "mlw-taxi-prod")
REPO = "https://github.com/nathansegers/mlops-2.0"
PREP_SHA = "5b7e2c9a1f3d5e7b9c1a3e5f7d9b1c3a5e7f9d2b"
LAPTOP_SHA = "05ee055698af2171294615a1e423f71f4098628e"
PIPELINE = "bold_river_4t6w9p3m1s"
# Child jobs of a pipeline are named by Azure ML with generated ids; their display name is the step.
STEPS = {"prep_data": "4c0d5e9a-1b7f-4a3e-8d2c-6f1b0a9e7d31",
         "train_model": "9e2b7c41-3d5a-4f08-b6e1-2a8c7d9f0b53",
         "evaluate_model": "b1f4a8d2-6c3e-4e9b-a057-8d2f1c6e3a94",
         "register_model": "e7a3c9f1-0b4d-4c8e-9f26-5d1a8b3c7e02"}
TRAIN_STEP = STEPS["train_model"]
DIRTY_JOB = "quiet_pepper_7kx2m9"
ARM = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-mlops-prod/providers/Microsoft.MachineLearningServices"
       f"/workspaces/mlw-taxi-prod")
API_DIGEST = "sha256:3f49a154a09c6e2b8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b"  # the demo's v1.2.3 image
API_IMAGE = f"ghcr.io/nathansegers/azure-mlops-api@{API_DIGEST}"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def created(when: str, by: str = "ava.peeters@example.com") -> SystemData:
    return SystemData(created_at=at(when), created_by=by, last_modified_at=at(when))


def git_properties(sha: str, dirty: bool = False) -> dict[str, str]:
    """What Azure ML records on a job submitted from a clone (both its own keys and MLflow's)."""
    return {"azureml.git.repository_uri": "git@github.com:nathansegers/mlops-2.0.git",
            "azureml.git.branch": "main", "azureml.git.commit": sha, "azureml.git.dirty": str(dirty),
            "mlflow.source.git.repoURL": "git@github.com:nathansegers/mlops-2.0.git",
            "mlflow.source.git.branch": "main", "mlflow.source.git.commit": sha,
            "mlflow.source.type": "JOB", "ContentSnapshotId": "2f6c1a3e-8b9d-4e7f-a1c2-3d4e5f6a7b8c"}


def as_read_back(job: Job, status: str, when: str) -> Job:
    """A job as the SDK returns it from the workspace: with a status and a creation time."""
    job._status = status  # read-only on entities; Job._from_rest_object sets these two
    job._creation_context = created(when)
    return job


def pipeline_job() -> Job:
    job = load_job(FIXTURES / "taxi-training-pipeline.yml")
    job.properties.update(git_properties(PREP_SHA))
    return as_read_back(job, "Completed", "2026-11-04T07:45:00Z")


def pipeline_steps() -> list[Job]:
    """What ``jobs.list(parent_job_name=…)`` gives: each step's own job, without inputs."""
    return [CommandJob(name=job_id, display_name=step, experiment_name="taxi-fare-regression",
                       compute="cpu-cluster", tags={"git_sha": PREP_SHA},
                       properties={**git_properties(PREP_SHA), "azureml.pipeline": PIPELINE},
                       status="Completed", creation_context=created(f"2026-11-04T07:{46 + index}:00Z"))
            for index, (step, job_id) in enumerate(STEPS.items())]


def dirty_job() -> CommandJob:
    return CommandJob(
        name=DIRTY_JOB, display_name="retrain-from-laptop", experiment_name="taxi-fare-regression",
        command="python train.py --train_data ${{inputs.train_data}} --model_output ${{outputs.model_output}}",
        environment="azureml:taxi-train-env:2", compute="azureml:cpu-cluster",
        inputs={"train_data": Input(type="uri_folder", path="azureml:taxi-train-data:8"),
                "alpha": 0.5, "fit_intercept": True},
        outputs={"model_output": Output(type="mlflow_model")},
        tags={"git_sha": LAPTOP_SHA}, properties=git_properties(LAPTOP_SHA, dirty=True),
        status="Completed", creation_context=created("2026-11-18T16:02:00Z", "tom.dewulf@example.com"))


def data_versions() -> list[Data]:
    versions = [("green-taxi-data", "4", "2026-10-01"), ("green-taxi-data", "5", "2026-11-01"),
                ("green-taxi-data", "6", "2026-11-15"), ("yellow-taxi-data", "3", "2026-11-01"),
                ("taxi-train-data", "8", "2026-11-04T07:52:00Z"), ("taxi-test-data", "8", "2026-11-04T07:52:00Z")]
    return [Data(name=name, version=version, type="uri_folder",
                 path=f"azureml://datastores/workspaceblobstore/paths/taxi/{name}/v{version}/",
                 tags={"git_sha": PREP_SHA} if name.startswith("taxi-") else {"source": "nyc-tlc"},
                 creation_context=created(when if "T" in when else f"{when}T00:00:00Z"))
            for name, version, when in versions]


def models() -> list[Model]:
    return [
        Model(name="taxi-model", version="3", type="mlflow_model", stage="Production",
              path=f"azureml://jobs/{TRAIN_STEP}/outputs/artifacts/paths/model/", tags={"git_sha": PREP_SHA},
              job_name=TRAIN_STEP, creation_context=created("2026-11-04T07:58:00Z")),
        Model(name="taxi-model", version="4", type="mlflow_model", stage="Development",
              path=f"azureml://jobs/{DIRTY_JOB}/outputs/artifacts/paths/model/", tags={"git_sha": LAPTOP_SHA},
              job_name=DIRTY_JOB, creation_context=created("2026-11-18T16:20:00Z")),
    ]


def online() -> tuple[ManagedOnlineEndpoint, list[ManagedOnlineDeployment]]:
    endpoint = ManagedOnlineEndpoint(name="taxi-fare-online", auth_mode="key", traffic={"blue": 100})
    blue = ManagedOnlineDeployment(
        name="blue", endpoint_name="taxi-fare-online", model=f"{ARM}/models/taxi-model/versions/3",
        environment=Environment(image=API_IMAGE),
        code_configuration=CodeConfiguration(code=f"{ARM}/codes/taxi-score/versions/1", scoring_script="score.py"),
        instance_type="Standard_DS3_v2", instance_count=2,
        environment_variables={"API_VERSION": "v1.2.3", "MODEL_NAME": "taxi-model", "MODEL_VERSION": "3",
                               "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=do-not-copy-me"},
        provisioning_state="Succeeded", creation_context=created("2026-11-12T09:30:00Z"))
    return endpoint, [blue]


def batch() -> tuple[BatchEndpoint, list[ModelBatchDeployment]]:
    endpoint = BatchEndpoint(name="taxi-fare-batch", default_deployment_name="nightly")
    nightly = ModelBatchDeployment(
        name="nightly", endpoint_name="taxi-fare-batch", model="azureml:taxi-model:3",
        environment="azureml:taxi-train-env:2", compute="cpu-cluster",
        resources=ResourceConfiguration(instance_count=2),
        provisioning_state="Succeeded", creation_context=created("2026-11-12T10:00:00Z"))
    return endpoint, [nightly]
