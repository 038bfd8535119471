"""The values people type after ``lineage emit``, in canonical form.

Every parser names the option it read in its error (``--model 'taxi model:3': …``), so a failing
pipeline step says which argument to fix. Errors are ``InvalidValue``; the CLI exits 2 on them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from graph_schema import canonical
from graph_schema.canonical import InvalidValue

LATEST = "latest"

Scalar = str | int | float | bool


@dataclass(frozen=True)
class Versioned:
    """A model or dataset version; ``requested_as`` is what the pipeline asked for (``latest``)."""

    name: str
    version: str
    requested_as: str | None = None

    @property
    def unresolved(self) -> bool:
        """Asked for ``latest`` without saying which version that was: the service must tell."""
        return self.version == LATEST

    @property
    def label(self) -> str:
        return f"{self.name}:{self.version}"


def versioned(text: str, option: str, what: str, *, allow_latest: bool = False) -> Versioned:
    """``NAME:VERSION``; with ``allow_latest`` also ``NAME:latest`` and ``NAME:REQUESTED=VERSION``.

    ``NAME:latest=5`` says the pipeline asked for ``latest`` and got 5 (as ``az ml data show
    --label latest`` tells it), so nothing has to be looked up.
    """
    forms = "NAME:VERSION" + (", NAME:latest or NAME:latest=VERSION" if allow_latest else "")
    name, colon, rest = text.strip().rpartition(":")
    if not colon or not name or not rest:
        raise InvalidValue(f"{option} {text!r}: expected {forms}, e.g. {_example(what)}")
    requested, equals, resolved = rest.partition("=")
    try:
        name = canonical.name(name, f"{what} name")
        if equals:
            if not allow_latest:
                raise InvalidValue(f"expected {forms}")
            version = canonical.asset_version(resolved)
            requested = canonical.asset_version(requested)
            return Versioned(name, version, requested if requested != version else None)
        version = canonical.asset_version(requested)
    except InvalidValue as exc:
        raise InvalidValue(f"{option} {text!r}: {exc}") from None
    if version == LATEST:
        if not allow_latest:
            raise InvalidValue(f"{option} {text!r}: name the version ({what} versions are exact here); "
                               f"'latest' is accepted for inputs only")
        return Versioned(name, LATEST, LATEST)
    return Versioned(name, version)


def _example(what: str) -> str:
    return {"model": "taxi-model:3", "dataset": "green-taxi-data:5"}.get(what, "NAME:3")


def pairs(values: Iterable[str], option: str) -> dict[str, str]:
    """``k=v`` options (tags): the last value of a key wins, as in ``az ml … --set``."""
    result: dict[str, str] = {}
    for text in values:
        key, equals, value = text.partition("=")
        if not equals or not key.strip():
            raise InvalidValue(f"{option} {text!r}: expected KEY=VALUE, e.g. {option} git_sha=05ee055")
        result[key.strip()] = value.strip()
    return result


def scalar(text: str) -> Scalar:
    """A parameter as typed: ``true``/``false``, an integer, a number, else the text."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for parse in (int, float):
        try:
            number = parse(text)
        except ValueError:
            continue
        if isinstance(number, float) and not math.isfinite(number):
            break  # JSON has no NaN or infinity: keep the text
        return number
    return text.strip()


def parameters(values: Iterable[str], option: str) -> dict[str, Scalar]:
    return {key: scalar(value) for key, value in pairs(values, option).items()}


def metrics(values: Iterable[str], option: str) -> dict[str, Scalar]:
    result = parameters(values, option)
    for key, value in result.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidValue(f"{option} {key}={value}: expected a finite number, e.g. {option} rmse=3.61")
    return result


@dataclass(frozen=True)
class Image:
    digest: str
    references: tuple[str, ...]  # canonical tagged references, the image's aliases
    repositories: tuple[str, ...]

    @property
    def reference(self) -> str:
        """One reference with the digest, as a deployment's pod spec would name it."""
        return f"{self.references[0]}@{self.digest}" if self.references else self.digest


_BARE_TAG = re.compile(r"[\w][\w.-]{0,127}")


def image(reference: str | None, digest: str | None = None, tags: Iterable[str] = (),
          option: str = "IMAGE") -> Image:
    """An image by digest, with the references (tags) that name it.

    ``reference`` is ``REF@DIGEST`` (or ``REF`` with ``digest`` given apart). Each tag is a full
    reference, or a bare tag (``v1.2.3``, the git SHA) of ``reference``'s repository.
    """
    found_digest, repositories, references = None, [], []
    if digest:
        try:
            found_digest = canonical.digest(digest)
        except InvalidValue as exc:
            raise InvalidValue(f"--digest: {exc}") from None
    base = None
    if reference:
        if canonical.is_digest(reference):
            base_digest: str | None = canonical.digest(reference)
        else:
            try:
                base = canonical.image_reference(reference)
            except InvalidValue as exc:
                raise InvalidValue(f"{option}: {exc}") from None
            base_digest = base.digest
            repositories.append(base.name)
            if base.tag:
                references.append(str(canonical.ImageReference(base.registry, base.repository, base.tag)))
        if base_digest and found_digest and base_digest != found_digest:
            raise InvalidValue(f"{option} {reference!r} names digest {base_digest}, but --digest is {found_digest}")
        found_digest = found_digest or base_digest
    if not found_digest:
        raise InvalidValue(
            f"{option}: the image digest is needed (tags move, digests do not); give REF@sha256:<64 hex> or "
            f"--digest, e.g. from docker/build-push-action's 'digest' output or `docker buildx imagetools inspect`")
    for tag in tags:
        text = tag.strip()
        if _BARE_TAG.fullmatch(text):
            if base is None:
                raise InvalidValue(f"--tag {text!r}: a bare tag needs the repository; give the full reference "
                                   f"(e.g. ghcr.io/org/api:{text}) or REF@DIGEST as the image")
            parsed = canonical.ImageReference(base.registry, base.repository, text)
        else:
            try:
                parsed = canonical.image_reference(text)
            except InvalidValue as exc:
                raise InvalidValue(f"--tag: {exc}") from None
            if parsed.digest and parsed.digest != found_digest:
                raise InvalidValue(f"--tag {text!r} names digest {parsed.digest}, not this image's {found_digest}")
            if not parsed.tag:
                raise InvalidValue(f"--tag {text!r} names no tag; expected REPOSITORY:TAG or a bare TAG")
        repositories.append(parsed.name)
        references.append(str(canonical.ImageReference(parsed.registry, parsed.repository, parsed.tag)))
    return Image(found_digest, tuple(dict.fromkeys(references)), tuple(dict.fromkeys(repositories)))
