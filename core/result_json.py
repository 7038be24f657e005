"""The JSON round trip that the result dataclasses share (attribution, few-shot and bias results)."""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, fields
from typing import Any, ClassVar, Self

from core.errors import WhyLMError


class JsonResult:
    """Base of a result dataclass: ``to_dict``/``to_json`` and a checked ``from_dict``/``from_json``.

    ``from_dict`` refuses, with a sentence naming ``document_name``, a document that is
    not an object or lacks a field without a default; keys that name no field are ignored.
    """

    document_name: ClassVar[str] = "WhyLM result"

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON-ready dict."""
        return asdict(self)

    def to_json(self, indent: int | None = None) -> str:
        """JSON text (floats keep full precision)."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Self:
        """Rebuild a result from ``to_dict`` output; a sentence if the document is not one."""
        if not isinstance(doc, dict):
            raise WhyLMError(f"This is not a {cls.document_name}: expected a JSON object.")
        missing = cls.missing_fields(doc)
        if missing:
            raise WhyLMError(f"This is not a {cls.document_name}: it lacks {', '.join(missing)}.")
        return cls.from_known_keys(doc)

    @classmethod
    def from_json(cls, text: str) -> Self:
        """Rebuild a result from ``to_json`` output; a sentence if the text is not JSON."""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise WhyLMError(f"This is not a WhyLM result: the JSON is broken ({exc.msg}).") from None
        return cls.from_dict(doc)

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
