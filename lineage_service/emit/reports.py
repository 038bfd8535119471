"""What each ``lineage emit`` verb reports: plain frozen data, built from the arguments.

A report holds everything the event says except the time, so its hash (with the CI context) is the
event id: the same step retried produces the same id, and a step that reports something different
under the same subject gets a new one instead of being dropped as a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lineage_service.emit.values import Image, Scalar, Versioned

AZUREML = "azureml"


@dataclass(frozen=True)
class DatasetReport:
    """A dataset version produced by a job (``--from-job``), or by the CI job running the step."""

    dataset: Versioned
    from_job: str | None = None
    job_system: str = AZUREML
    derived_from: tuple[Versioned, ...] = ()
    uri: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    verb = "dataset"

    @property
    def subject(self) -> str:
        return self.dataset.label


@dataclass(frozen=True)
class TrainingReport:
    """A training job: the code it ran (the commit), the datasets it read, the model it produced."""

    job: str
    inputs: tuple[Versioned, ...]
    model: Versioned
    job_system: str = AZUREML
    pipeline_job: str | None = None
    parameters: dict[str, Scalar] = field(default_factory=dict)
    metrics: dict[str, Scalar] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    verb = "training"

    @property
    def subject(self) -> str:
        return self.job


@dataclass(frozen=True)
class ModelReport:
    """A registered model version, produced by ``--job`` or by the CI job running the step."""

    model: Versioned
    job: str | None = None
    job_system: str = AZUREML
    tags: dict[str, str] = field(default_factory=dict)

    verb = "model"

    @property
    def subject(self) -> str:
        return self.model.label


@dataclass(frozen=True)
class ImageReport:
    """An image built from the current commit by the current run, maybe bundling a model."""

    image: Image
    model: Versioned | None = None

    verb = "image"

    @property
    def subject(self) -> str:
        return self.image.digest[:19]  # as the graph labels images: sha256: and 12 hex characters


@dataclass(frozen=True)
class DeploymentReport:
    """A deployment revision running an image and serving a model, behind an API version."""

    platform: str
    cluster: str
    namespace: str
    name: str
    revision: str
    environment: str
    service: str
    api_version: str
    image: Image
    model: Versioned

    verb = "deployment"

    @property
    def subject(self) -> str:
        return f"{self.environment}/{self.name}#{self.revision}"


Report = DatasetReport | TrainingReport | ModelReport | ImageReport | DeploymentReport
