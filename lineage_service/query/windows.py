"""When a deployment revision was active, and when an image tag pointed at a digest.

The graph holds time in three places, and these rules read them in this order:

- a deployment's props ``active_from``/``active_to`` (what the cluster collector or ``lineage emit
  deployment`` reported), then the validity window of the ``served_by`` links that reach it
  (``valid_from``/``valid_to``), then when the revision was first reported;
- a revision is *live* when its window has no end: the last report did not say it was replaced;
- an image tag has no link of its own (tags are aliases of a digest), so the digest a tag pointed
  to at a time is the one pushed last before it, by ``pushed_at``, else ``created``, else when the
  image was first reported. Tags normally move forward, so this is exact unless a tag was moved
  back to an older digest, which no registry event records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from lineage_service.store.base import Edge, Node


def moment(value: object) -> datetime | None:
    """An ISO 8601 time from a property, or None when it is missing or not a time."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


@dataclass(frozen=True)
class Window:
    start: datetime | None
    end: datetime | None

    @property
    def open(self) -> bool:
        return self.end is None

    def contains(self, at: datetime) -> bool:
        return (self.start is None or self.start <= at) and (self.end is None or at < self.end)


def deployment_window(node: Node, served_by: Iterable[Edge] = ()) -> Window:
    """When a deployment revision was active; ``served_by`` are the links from APIs to it."""
    links = list(served_by)
    start = moment(node.props.get("active_from"))
    if start is None:
        starts = [e.valid_from for e in links if e.valid_from]
        start = min(starts) if starts else node.first_seen
    end = moment(node.props.get("active_to"))
    if end is None and links and all(e.valid_to for e in links):
        end = max(e.valid_to for e in links if e.valid_to)
    return Window(start, end)


def link_window(edge: Edge, deployment: Window) -> Window:
    """When an API was served by a deployment: the link's own window, within the revision's."""
    start = edge.valid_from or deployment.start
    end = edge.valid_to or deployment.end
    return Window(start, end)


def link_holds(edge: Edge, at: datetime | None) -> bool:
    """Whether a link of an active revision held at ``at`` (now, without it), by its own window only.

    A revision's links are part of it, so a link reported after the fact (a collector backfilling
    rollout history) still held while the revision was active, unless its own window says otherwise.
    """
    if at is None:
        return edge.valid_to is None
    return (edge.valid_from is None or edge.valid_from <= at) and (edge.valid_to is None or at < edge.valid_to)


def pushed_at(image: Node) -> datetime:
    return moment(image.props.get("pushed_at")) or moment(image.props.get("created")) or image.first_seen


def environment(node: Node) -> str:
    """A deployment's environment: its ``environment`` prop, else its namespace."""
    value = node.props.get("environment")
    return str(value) if value else node.key.get("namespace", "")


def place(node: Node) -> tuple[str, str, str, str]:
    """What the revisions of one deployment share: platform, cluster, namespace and name."""
    return node.key["platform"], node.key["cluster"], node.key["namespace"], node.key["name"]
