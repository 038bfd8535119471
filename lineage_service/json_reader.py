"""Reading a foreign JSON document defensively, for the translators (OpenLineage, provenance).

A ``FieldReader`` collects every problem with the path of its field instead of stopping at the
first, so a sender learns all that is wrong in one answer; ``raise_problems`` raises the
translator's own rejection error with the whole list.
"""

from __future__ import annotations

from typing import Any, ClassVar

from graph_schema.canonical import InvalidValue
from graph_schema.kinds import SPECS, NodeKind

Json = dict[str, Any]


def json_type(value: object) -> str:
    """The JSON name of a value's type, as a sender would call it."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


class FieldReader:
    # The translator's error; it takes the list of ``field: problem`` lines.
    rejection: ClassVar[type[ValueError]]

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.notes: list[str] = []
        # Prepended to field names inside a wrapper (a DSSE envelope's ``payload.``), so a problem
        # names the field where the sender can find it.
        self.prefix = ""

    def problem(self, at: str, message: str) -> None:
        if (text := f"{self.prefix}{at}: {message}") not in self.problems:
            self.problems.append(text)

    def raise_problems(self) -> None:
        if self.problems:
            raise self.rejection(self.problems)

    def obj(self, parent: Json, field: str, at: str, *, required: bool = False) -> Json | None:
        value = parent.get(field)
        if value is None:
            if required:
                self.problem(at, "required, an object")
            return None
        if not isinstance(value, dict):
            self.problem(at, f"expected an object, got {json_type(value)}")
            return None
        return value

    def text(self, parent: Json, at: str, *, required: bool = True) -> str | None:
        """The string at the last part of ``at`` (``job.namespace`` reads ``namespace`` of ``parent``)."""
        value = parent.get(at.rpartition(".")[2])
        if value is None or value == "":
            if required:
                self.problem(at, "required, a non-empty string")
            return None
        if not isinstance(value, str):
            self.problem(at, f"expected a string, got {json_type(value)}")
            return None
        return value.strip() or None

    def key_field(self, kind: NodeKind, field: str, value: object, at: str) -> str | None:
        """A key field in canonical form, or None with the problem recorded."""
        if value is None:
            return None  # already reported where it was read
        try:
            return SPECS[kind].canonicalizers[field](str(value))
        except InvalidValue as exc:
            self.problem(at, str(exc))
            return None
