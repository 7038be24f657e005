"""The run result: a self-describing document that serialises to JSON and back without loss."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from core.errors import WhyLMError

RESULT_FORMAT = 1


@dataclass
class RunResult:
    """What one attribution run found.

    Attributes:
        kind: the run kind ("attribution").
        spec: the spec document as run (defaults filled in).
        features: feature labels in order.
        output_tokens: labels of the output tokens (rows of ``token_attr``).
        seq_attr: one number per feature, toward the whole sequence's score.
        token_attr: output tokens x features (None when a method gives none).
        score_all / score_none: the sequence score with all features present / none.
        token_score_all / token_score_none: the same per output token.
        prompt_tokens: the prompt's tokens (all features present).
        feature_tokens: for each feature, the indices of the prompt tokens it covers.
        target: the explained output (text, ids, contrast, generated).
        extra: method-specific numbers (for example the completeness gap).
        meta: model name and revision, method, forward passes, seconds, version.
    """

    kind: str
    spec: dict[str, Any]
    features: list[str]
    output_tokens: list[str]
    seq_attr: list[float]
    token_attr: list[list[float]] | None
    score_all: float
    score_none: float
    token_score_all: list[float]
    token_score_none: list[float]
    prompt_tokens: list[str]
    feature_tokens: list[list[int]]
    target: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    format: int = RESULT_FORMAT

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON-ready dict."""
        return asdict(self)

    def to_json(self, indent: int | None = None) -> str:
        """JSON text (floats keep full precision)."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> RunResult:
        """Rebuild a result from ``to_dict`` output; a sentence if the document is not one."""
        if not isinstance(doc, dict):
            raise WhyLMError("This is not a WhyLM result: expected a JSON object.")
        names = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.name not in ("extra", "meta", "format")}
        missing = sorted(required - doc.keys())
        if missing:
            raise WhyLMError(
                f"This is not a WhyLM result: it lacks {', '.join(missing)}."
            )
        return cls(**{k: v for k, v in doc.items() if k in names})

    @classmethod
    def from_json(cls, text: str) -> RunResult:
        """Rebuild a result from ``to_json`` output."""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise WhyLMError(f"This is not a WhyLM result: the JSON is broken ({exc.msg}).") from None
        return cls.from_dict(doc)

    def matches(self, other: RunResult) -> list[str]:
        """Reasons the two results cannot be compared feature by feature (empty if they can)."""
        reasons = []
        if self.features != other.features:
            reasons.append("their features differ")
        if self.target.get("ids") != other.target.get("ids") or self.target.get(
            "contrast_ids"
        ) != other.target.get("contrast_ids"):
            reasons.append("their targets differ")
        if self.spec.get("score") != other.spec.get("score"):
            reasons.append("one scores log-probability and the other probability")
        return reasons
