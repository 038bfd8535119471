"""The Azure ML collector: jobs, data assets, models and endpoints of one workspace, through ``MLClient``.

Reads, in this order, with the ``azure-ai-ml`` SDK (imported only when a run starts):

1. data asset versions (``data.list()``, then ``data.list(name=…)`` for names with a version not
   seen yet) → ``dataset`` nodes;
2. jobs (``jobs.list()``) and, for pipelines, their steps (``jobs.list(parent_job_name=…)``) →
   ``job`` nodes with ``ran_code`` → commit, ``consumed`` → dataset (``requested_as`` for
   ``@latest``), ``produced_by`` for outputs registered as assets, ``part_of`` → the pipeline;
3. model versions (``models.list()``, ``models.list(name=…)``) → ``model`` ``produced_by`` → job;
4. online and batch endpoints and their deployments → ``deployment`` revisions
   (``collectors.azureml_deployments`` says what a revision is).

The mapping itself is ``collectors.azureml_mapping``, pure functions of SDK entities.

**Labels.** The SDK resolves ``azureml:name@latest`` to a version when it submits a job, so the
workspace usually holds a concrete version; when it holds a label, the version is the newest one
created before the job was (from the versions' creation times), else what the label means now
(``data.get(name, label=…)``), and the edge says which (``resolved``).

**Cursor** (JSON): the newest job creation time read (and the names at that time), the jobs not
finished yet (read again next time, until they end), the asset versions seen per name, and the
live deployment revisions. Nothing new in the workspace → nothing emitted. ``experiments`` and
``since`` filter jobs; ``since`` also skips older asset versions. A changed filter reads jobs in full.

**Failures.** No credential, no access or an unknown workspace make the source unreadable
(``CollectorError`` naming the fix). One job, asset or endpoint that cannot be read is a failure
in the report and the rest goes on; an unfinished or partly read job is read again next run.
The credential is ``DefaultAzureCredential`` (``az login``, a managed identity, or
``AZURE_CLIENT_ID``/``AZURE_TENANT_ID``/``AZURE_CLIENT_SECRET``); it is never printed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import Field

from collectors.azureml_values import Mapped, Workspace
from collectors.base import Collector, CollectorConfig, CollectorError, Event

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.core.credentials import TokenCredential

T = TypeVar("T")
INSTALL = "pip install 'lineage-service[azure]'"


class AzureMLConfig(CollectorConfig):
    subscription_id: str = Field(min_length=1, description="The Azure subscription id of the workspace.")
    resource_group: str = Field(min_length=1, description="The workspace's resource group.")
    workspace: str = Field(min_length=1, description="The Azure ML workspace name.")
    experiments: list[str] = Field(default_factory=list, description="Only jobs of these experiments; default all.")
    since: date | datetime | None = Field(
        None, description="Only jobs and asset versions created after this (a date is midnight UTC).")
    cloud: str | None = Field(
        None, description="AzureCloud (default), AzureUSGovernment, AzureChinaCloud, or a cloud that "
                          "ARM_CLOUD_METADATA_URL describes (Azure Stack).")
    endpoints: bool = Field(True, description="Read online and batch endpoints and their deployments.")


class AzureMLCollector(Collector[AzureMLConfig]):
    """Jobs, data assets, models and deployments of one Azure ML workspace."""

    name: ClassVar[str] = "azureml"
    config_class: ClassVar[type[CollectorConfig]] = AzureMLConfig
    requires: ClassVar[tuple[str, ...]] = ("azure.ai.ml", "azure.identity")
    install_hint: ClassVar[str] = INSTALL

    def __init__(self, config: AzureMLConfig, instance: str | None = None, *,
                 credential: TokenCredential | None = None) -> None:
        super().__init__(config, instance)
        self.workspace = Workspace(config.subscription_id, config.resource_group, config.workspace)
        # Another credential than DefaultAzureCredential (a service's own, or a test's fixed token).
        self._credential = credential

    def collect(self, cursor: str | None) -> Iterator[Event]:
        from collectors.azureml_run import Run  # the SDK loads here, not when the CLI starts

        run = Run(self, self._client(), _now())
        yield from run.collect(cursor)
        self.cursor = run.cursor()

    def _client(self) -> MLClient:
        import logging

        from azure.ai.ml import MLClient

        # The SDK logs "This is an experimental class" at WARNING for classes it builds itself:
        # noise on a collector's stderr, about nothing the user did.
        logging.getLogger("azure.ai.ml._utils._experimental").setLevel(logging.ERROR)

        credential = self._credential
        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        options: dict[str, Any] = {"cloud": self.config.cloud} if self.config.cloud else {}
        try:
            return MLClient(credential, self.config.subscription_id, self.config.resource_group,
                            self.config.workspace, show_progress=False, **options)
        except Exception as exc:  # an unknown cloud name, malformed ids: nothing can be read
            raise CollectorError(f"cannot set up an Azure ML client for workspace {self.config.workspace!r}: "
                                 f"{short(exc)}") from None

    def emit(self, mapped: Mapped) -> Iterator[Event]:
        self.report.warnings.extend(mapped.warnings)
        self.report.emitted += 1
        yield mapped.event

    def guarded(self, item: str, read: Callable[..., T], *args: Any) -> T | None:
        """``read(*args)``, or None with a failure in the report; problems of the whole source raise."""
        try:
            return read(*args)
        except CollectorError:
            raise  # the whole source, found unreadable deeper down
        except Exception as exc:
            raise_if_fatal(exc, self.config.workspace)
            self.report.fail(item, short(exc))
            return None


def raise_if_fatal(exc: Exception, workspace: str) -> None:
    """Authentication, authorisation and connection problems make the whole workspace unreadable."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

    if isinstance(exc, ClientAuthenticationError):
        raise CollectorError(f"cannot authenticate to Azure ({short(exc)}); sign in with `az login`, or give the "
                             f"collector a managed identity or AZURE_CLIENT_ID, AZURE_TENANT_ID and "
                             f"AZURE_CLIENT_SECRET") from None
    if isinstance(exc, ServiceRequestError):
        raise CollectorError(f"cannot reach Azure ML ({short(exc)}); check the network and the cloud setting") from None
    if isinstance(exc, HttpResponseError) and exc.status_code in (401, 403):
        raise CollectorError(f"not allowed to read workspace {workspace!r} ({short(exc)}); grant the identity a "
                             f"reader role (AzureML Data Scientist or Reader) on it") from None


def short(exc: BaseException) -> str:
    """The first line of an SDK error, bounded: its messages can be long, and never hold the token."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text[:300]


class Pager(Generic[T]):
    """An SDK pager, iterated so that a failing page ends the listing with a failure in the report.

    ``complete`` tells afterwards whether everything was listed, so that a cursor is not moved past
    what a failed page hid.
    """

    def __init__(self, collector: AzureMLCollector, item: str, items: Iterable[T]) -> None:
        self.collector, self.item, self.items = collector, item, items
        self.complete = True

    def __iter__(self) -> Iterator[T]:
        iterator = iter(self.items)
        while True:
            try:
                value = next(iterator)
            except StopIteration:
                return
            except Exception as exc:
                raise_if_fatal(exc, self.collector.config.workspace)
                self.collector.report.fail(self.item, short(exc))
                self.complete = False
                return
            yield value


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def since_time(value: date | datetime | None) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def cursor_json(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True)

