"""The JSON form that every run result shares: its ``kind`` and ``format`` fields and a checked read-back.

Each result class (``RunResult``, ``BiasResult``, ``FewShotResult``) is a dataclass
deriving from :class:`JsonResult`. The base holds the two fields every saved result
starts with, ``kind`` (which run kind it is) and ``format`` (the shape of the document),
and reads a document back in one place: it refuses, with a sentence, what is not a
result of the class's kind, and brings an older format up to date through the class's
:meth:`JsonResult.upgrade` before building the object.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, ClassVar, Self

from core.errors import WhyLMError

RESULT_FORMAT = 1
"""The format every result is written in. A document without ``format`` predates formats (0)."""


@dataclass
class JsonResult:
    """Base of a result dataclass: ``kind``, ``format``, ``to_dict``/``to_json`` and a checked ``from_dict``.

    Attributes:
        kind: the run kind, the class's ``result_kind`` ("attribution", "bias", "few_shot").
        format: the shape of the document (``RESULT_FORMAT`` for a result made now).

    A subclass sets ``result_kind`` and ``document_name`` (the result in words, for
    sentences), says in :meth:`spec_document` how its kind fills in a spec, and may
    override :meth:`upgrade` to read documents of older formats. Both fields are
    declared here, so they come first in ``to_dict``; they are keyword-only, so a
    subclass's own fields may go without defaults.
    """

    kind: str = field(kw_only=True)
    format: int = field(default=RESULT_FORMAT, kw_only=True)

    result_kind: ClassVar[str] = ""
    document_name: ClassVar[str] = "WhyLM result"

    def __post_init__(self) -> None:
        """Refuse a result built with another kind's name (a sentence, not a wrong document)."""
        if self.kind != self.result_kind:
            raise WhyLMError(
                f"A {self.document_name} has the kind '{self.result_kind}', not {self.kind!r}."
            )

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON-ready dict (``kind`` and ``format`` first)."""
        return asdict(self)

    def to_json(self, indent: int | None = None) -> str:
        """JSON text (floats keep full precision)."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, doc: Any) -> Self:
        """Rebuild a result from ``to_dict`` output of this or an older format.

        Raises:
            WhyLMError: a sentence when ``doc`` is not an object, is a result of another kind,
                has a format this WhyLM cannot read, or lacks a field without a default.
        """
        if not isinstance(doc, dict):
            raise WhyLMError(f"This is not a {cls.document_name}: expected a JSON object.")
        cls.check_kind(doc)
        version = cls.check_format(doc)
        if version < RESULT_FORMAT:
            doc = cls.upgrade(dict(doc), version)
        missing = cls.missing_fields(doc)
        if missing:
            raise WhyLMError(f"This is not a {cls.document_name}: it lacks {', '.join(missing)}.")
        return cls.from_known_keys({**doc, "format": RESULT_FORMAT})

    @classmethod
    def from_json(cls, text: str) -> Self:
        """Rebuild a result from ``to_json`` output; a sentence if the text is not one."""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise WhyLMError(f"This is not a {cls.document_name}: the JSON is broken ({exc.msg}).") from None
        return cls.from_dict(doc)

    @classmethod
    def check_kind(cls, doc: dict[str, Any]) -> None:
        """Refuse, with a sentence, a document whose ``kind`` is missing or not this class's kind."""
        if "kind" not in doc:
            raise WhyLMError(f"This is not a {cls.document_name}: it lacks kind.")
        if doc["kind"] != cls.result_kind:
            raise WhyLMError(
                f"This is not a {cls.document_name}: its kind is {doc['kind']!r}, not '{cls.result_kind}'."
            )

    @classmethod
    def check_format(cls, doc: dict[str, Any]) -> int:
        """The document's format (0 when it has none); a sentence when this WhyLM cannot read it."""
        version = doc.get("format", 0)
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise WhyLMError(
                f"This is not a {cls.document_name}: its format {version!r} is not a whole number."
            )
        if version > RESULT_FORMAT:
            raise WhyLMError(
                f"This {cls.document_name} has format {version}, newer than the format {RESULT_FORMAT} "
                "this WhyLM reads; open it with a newer WhyLM."
            )
        return version

    @classmethod
    def spec_document(cls, doc: Any) -> dict[str, Any]:
        """The spec document as this kind runs it (defaults filled in): what a result's ``spec`` holds.

        Every path that saves a run saves this document, so one input is saved the same
        way from the dashboard, the command line or an import.

        Raises:
            SpecError: the document cannot run (a sentence naming the field to fix).
        """
        raise NotImplementedError(f"{cls.__name__} does not say how its spec is filled in.")

    @classmethod
    def upgrade(cls, doc: dict[str, Any], version: int) -> dict[str, Any]:
        """A document of an older ``version`` in the current format (a copy; the default changes nothing).

        A subclass whose documents changed shape overrides this; it may rewrite ``doc``,
        which ``from_dict`` passes as a shallow copy.
        """
        return doc

    @classmethod
    def missing_fields(cls, doc: dict[str, Any]) -> list[str]:
        """The names of the fields without a default that ``doc`` lacks, sorted."""
        required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        return sorted(required - doc.keys())

    @classmethod
    def from_known_keys(cls, doc: dict[str, Any]) -> Self:
        """The result built from the keys of ``doc`` that name its fields (other keys are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in names})
