"""The run result: a self-describing document that serialises to JSON and back without loss."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from core.result_json import JsonResult


@dataclass
class RunResult(JsonResult):
    """What one attribution run found (``JsonResult`` gives ``kind``, ``format`` and the JSON round trip).

    Attributes:
        kind: the run kind ("attribution").
        format: the document's format (``core.result_json.RESULT_FORMAT``).
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
        seq_stderr / token_stderr: the standard error of ``seq_attr`` / ``token_attr`` where the
            method samples (``core.attribution.uncertainty``); None for an exact method.
        faithfulness: deletion and insertion curves beside random orders
            (``core.attribution.faithfulness``); None when the run did not check it (older runs too).
    """

    result_kind: ClassVar[str] = "attribution"
    document_name: ClassVar[str] = "WhyLM attribution result"

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
    seq_stderr: list[float] | None = None
    token_stderr: list[list[float]] | None = None
    faithfulness: dict[str, Any] | None = None

    @classmethod
    def spec_document(cls, doc: Any) -> dict[str, Any]:
        """The attribution spec as the engine runs it (``RunSpec.raw``); ``SpecError`` if it cannot run."""
        from core.attribution.spec import parse_spec

        return parse_spec(doc).raw

    def check(self) -> None:
        """Refuse a result whose numbers do not fit its labels: one per feature, one row per output token."""
        n_features, n_tokens = len(self.features), len(self.output_tokens)
        per_feature = {"seq_attr": self.seq_attr, "feature_tokens": self.feature_tokens}
        per_token = {"token_score_all": self.token_score_all, "token_score_none": self.token_score_none}
        for name, values in per_feature.items():
            if len(values) != n_features:
                raise self.refuse(f"its {name} has {len(values)} entries for {n_features} features")
        for name, values in per_token.items():
            if len(values) != n_tokens:
                raise self.refuse(f"its {name} has {len(values)} entries for {n_tokens} output tokens")
        if self.token_attr is not None:
            if len(self.token_attr) != n_tokens:
                raise self.refuse(f"its token_attr has {len(self.token_attr)} rows for {n_tokens} output tokens")
            for i, row in enumerate(self.token_attr):
                if len(row) != n_features:
                    raise self.refuse(f"its token_attr row {i} has {len(row)} numbers for {n_features} features")
        if self.seq_stderr is not None and len(self.seq_stderr) != n_features:
            raise self.refuse(f"its seq_stderr has {len(self.seq_stderr)} entries for {n_features} features")
        if self.token_stderr is not None and (
            len(self.token_stderr) != n_tokens or any(len(row) != n_features for row in self.token_stderr)
        ):
            raise self.refuse(f"its token_stderr is not {n_tokens} rows of {n_features} numbers")
        n_prompt = len(self.prompt_tokens)
        for i, indices in enumerate(self.feature_tokens):
            if any(not 0 <= j < n_prompt for j in indices):
                raise self.refuse(f"its feature_tokens[{i}] points outside the {n_prompt} prompt tokens")

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
