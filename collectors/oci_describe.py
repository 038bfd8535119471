"""What one registry digest is, as lineage nodes: an image, an index and its platforms, attachments.

The mapping decisions are explained in ``collectors.oci_registry``; this module applies them to what
``collectors.oci_reads`` read, writing into an ``oci_image.EventBuilder``.
"""

from __future__ import annotations

from typing import Any

from collectors import oci_image
from collectors.base import Report
from collectors.oci_image import EventBuilder, Origin
from collectors.oci_reads import ATTACHMENT_KINDS, ATTACHMENT_TAG, Manifest, Repository, describe_attachment, platforms
from graph_schema import canonical


class ImageReader:
    """Reads digests into nodes; remembers, for the run, whether the registry has the referrers API."""

    def __init__(self, repo_url: str | None, referrers: bool, report: Report) -> None:
        self.repo_url, self.referrers, self.report = repo_url, referrers, report
        self.referrers_api: bool | None = None  # unknown until the first answer

    def read(self, repository: Repository, digest: str, aliases: list[str], builder: EventBuilder) -> None:
        """The manifest at ``digest`` (tagged ``aliases``), its config or platforms, and its referrers."""
        manifest = repository.manifest(digest)
        tags: dict[str, Any] = {"tags": dict.fromkeys(aliases, True)} if aliases else {}
        if manifest.is_index:
            self._index(repository, manifest, aliases, tags, builder)
        elif not self._image(repository, manifest, builder, tags, aliases)[0]:
            return
        if self.referrers and self.referrers_api is not False:
            found = repository.referrers(digest)
            self.referrers_api = found is not None
            if found:
                builder.image(digest, {"attestations": {
                    str(entry.get("digest")): describe_attachment(entry, "referrers") for entry in found
                    if canonical.is_digest(str(entry.get("digest", "")))}})

    def attachment(self, repository: Repository, subject: str, tag: str, digest: str, builder: EventBuilder) -> None:
        """An attachment tag: cosign's ``sha256-<hex>.sig|.att|.sbom``, or the OCI fallback index ``sha256-<hex>``."""
        manifest = repository.manifest(digest)
        match = ATTACHMENT_TAG.fullmatch(tag)
        suffix = match.group(2) if match else None
        if manifest.is_index and suffix is None:  # the OCI 1.1 fallback: an index of the referrers
            found = {str(entry["digest"]): describe_attachment(entry, "referrers-tag")
                     for entry in manifest.data.get("manifests") or []
                     if isinstance(entry, dict) and canonical.is_digest(str(entry.get("digest", "")))}
        else:
            described = describe_attachment({}, "tag", manifest)
            kind = ATTACHMENT_KINDS.get(suffix or "")
            found = {digest: {**described, "tag": tag, **({"kind": kind} if kind else {})}}
        if found:
            builder.image(subject, {"attestations": found})

    def _image(self, repository: Repository, manifest: Manifest, builder: EventBuilder, props: dict[str, Any],
               aliases: list[str]) -> tuple[bool, Origin | None]:
        """One platform's manifest and config: (is it a container image, the commit it declares)."""
        config = repository.config(manifest)
        where = f"{repository.name}@{manifest.digest[:19]}"
        if config is None:
            kind = manifest.data.get("artifactType") or (manifest.data.get("config") or {}).get("mediaType")
            self.report.warnings.append(f"{where} is not a container image ({kind}): skipped")
            self.report.skipped += 1
            return False, None
        annotations = manifest.annotations()
        described = {"media_type": manifest.media_type, "config_digest": config.digest,
                     **({"platform": config.platform} if config.platform else {}),
                     **oci_image.label_props(config.labels, annotations), **props}
        if "created" not in described and config.created:
            described["created"] = config.created
        node = builder.image(manifest.digest, described, aliases)
        found, problem = oci_image.origin(config.labels, annotations, self.repo_url)
        if problem:
            self.report.warnings.append(f"{where}: {problem}")
        if found:
            builder.built_from(node, found)
        return True, found

    def _index(self, repository: Repository, index: Manifest, aliases: list[str], tags: dict[str, Any],
               builder: EventBuilder) -> None:
        entries, attestations = platforms(index)
        annotations = index.annotations()
        node = builder.image(index.digest, {
            "media_type": index.media_type, **oci_image.label_props({}, annotations),
            "platforms": [{"digest": digest, "platform": platform} for digest, platform in entries], **tags}, aliases)
        origins: list[Origin | None] = []
        for digest, platform in entries:
            child = repository.manifest(digest)
            if child.is_index:
                self.report.warnings.append(f"{repository.name}@{digest[:19]}: an index inside an index; not read")
                continue
            is_image, declared_by = self._image(repository, child, builder, {"in_index": {index.digest: platform}}, [])
            if is_image:
                origins.append(declared_by)
        for entry in attestations:  # buildx: an attestation manifest per platform, naming it as its subject
            subject = str(entry.get("annotations", {}).get("vnd.docker.reference.digest", ""))
            subject = subject if canonical.is_digest(subject) else index.digest
            builder.image(subject, {"attestations": {str(entry["digest"]): describe_attachment(entry, "index")}})
        found, problem = oci_image.origin({}, annotations, self.repo_url)
        if problem:
            self.report.warnings.append(f"{repository.name}@{index.digest[:19]}: {problem}")
        declared = {origin for origin in origins if origin}
        if found is None and len(declared) == 1 and all(origins):
            found = declared.pop()  # every platform declares the same commit: so does the index
        elif found is None and len(declared) > 1:
            self.report.warnings.append(f"{repository.name}@{index.digest[:19]}: its platforms declare different "
                                        f"commits; each platform's node links its own, the index none")
        if found:
            builder.built_from(node, found)
