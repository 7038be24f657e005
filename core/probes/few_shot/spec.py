"""The few-shot probe's specification: validation, prompt assembly, CSV loading, presets.

A few-shot spec (``kind: "few_shot"``) names a model, an optional instruction,
the labelled examples of the prompt, how an example and a query are written,
the test queries with their expected labels, and the label set::

    {
      "kind": "few_shot",
      "model": "default",
      "instruction": "Classify the sentiment of each movie review as positive or negative.",
      "examples": [{"input": "A joy from start to finish.", "label": "positive"}, ...],
      "example_format": "Review: {input}\\nSentiment: {label}\\n\\n",
      "query_format": "Review: {input}\\nSentiment:",
      "queries": [{"input": "I was bored the whole time.", "label": "negative"}, ...],
      "labels": ["positive", "negative"],
      "chat": false,
      "include_instruction_as_feature": false,
      "method": "auto",
      "max_exact": 10,
      "n_samples": 25,
      "order_trials": 5,
      "seed": 0
    }

Prompt assembly (``user_text``): the instruction (trailing whitespace removed)
and a blank line, then each present example written with ``example_format`` in
the examples' order, then the query written with ``query_format``. In chat mode
that whole text is the user message of the model's chat template and the label
is scored right after the assistant prefix.

The leading-space convention: labels are written without a leading space
("positive"). The text scored after the prompt is ``label_prefix + label``;
``label_prefix`` defaults to one space in plain mode (so " positive", the way
BPE tokenizers attach the space to the word, matching "Sentiment: positive"
inside the examples) and to nothing in chat mode (the assistant's reply starts
with the label). Spaces and tabs at the end of the plain prompt are dropped, so
a query format ending in "Sentiment: " scores the same " positive" token.

The settings (chat, method, max_exact, n_samples, order_trials, seed, ...) are
declared in ``core.probes.few_shot.settings``; the parser validates against
those declarations and the form draws them.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import io
import json
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from core.errors import SpecError
from core.models.request import parse_model
from core.probes.few_shot.settings import (
    CHAT,
    INSTRUCTION_AS_FEATURE,
    MAX_EXACT,
    METHOD,
    METHOD_PARAMS,
    N_SAMPLES,
    NORMALISE,
    ORDER_TRIALS,
    SEED,
    cost_problem,
    exact_problem,
    few_shot_cost,
    uses_exact,
)
from core.text import check_document

PRESET_DIR = Path(__file__).parent / "presets"

ALLOWED_FIELDS = {
    "kind",
    "model",
    "instruction",
    "examples",
    "example_format",
    "query_format",
    "queries",
    "labels",
    "label_prefix",
    "normalise",
    "chat",
    "include_instruction_as_feature",
    "method",
    "max_exact",
    "n_samples",
    "order_trials",
    "seed",
    "title",
    "tags",
}


@dataclass(frozen=True)
class LabelledText:
    """One example or query: the input text and its (expected) label."""

    input: str
    label: str


@dataclass
class FewShotSpec:
    """A validated few-shot spec (``raw`` keeps the document with defaults filled in).

    Attributes:
        model: model name ("default", a hub id or a folder).
        instruction: text before the examples ("" for none).
        examples: the prompt's labelled examples, in prompt order.
        example_format: how one example is written; holds {input} and {label}.
        query_format: how the test item is written; holds {input}, not {label}.
        queries: test items with their expected labels.
        labels: the label set (as written inside examples, no leading space).
        label_prefix: text scored before a label (" " plain, "" chat by default).
        chat: wrap the whole few-shot prompt as the user message of the chat template.
        include_instruction_as_feature: attribute to the instruction as one more feature.
        method: "auto" (exact Shapley up to max_exact features, sampling above),
            "exact" or "sampling".
        max_exact: most features for exact Shapley under "auto".
        n_samples: random feature orders for Shapley sampling.
        order_trials: random orders of the examples for the order-sensitivity check.
        seed: seeds the example orders and the Shapley sampling.
        normalise: which label counts as picked: the highest summed log-probability ("sum", lm-eval's acc),
            per token, or per character ("per_char", lm-eval's acc_norm).
    """

    model: str | dict[str, str]
    instruction: str
    examples: list[LabelledText]
    example_format: str
    query_format: str
    queries: list[LabelledText]
    labels: list[str]
    label_prefix: str
    chat: bool
    include_instruction_as_feature: bool
    method: str
    max_exact: int
    n_samples: int
    order_trials: int
    seed: int
    raw: dict[str, Any]
    normalise: str = "sum"

    @property
    def n_features(self) -> int:
        """Examples, plus the instruction when it is a feature (always the last feature)."""
        return len(self.examples) + (1 if self.include_instruction_as_feature else 0)

    @property
    def uses_exact(self) -> bool:
        """Whether Shapley values are computed exactly (else by Shapley sampling); see ``settings.uses_exact``."""
        return uses_exact(self.method, self.n_features, self.max_exact, self.n_samples)

    def label_index(self, label: str) -> int:
        """Position of a label in the label set."""
        return self.labels.index(label)

    def user_text(self, order: Sequence[int], query: int, instruction: bool = True) -> str:
        """The few-shot prompt (user text, before any chat wrapping) for one query.

        Args:
            order: indices of the examples present, in the order they are written.
            query: index of the query.
            instruction: whether the instruction is written.
        """
        parts: list[str] = []
        if instruction and self.instruction.strip():
            parts.append(self.instruction.rstrip() + "\n\n")
        for i in order:
            ex = self.examples[i]
            parts.append(self.example_format.format(input=ex.input, label=ex.label))
        parts.append(self.query_format.format(input=self.queries[query].input))
        text = "".join(parts)
        return text if self.chat else text.rstrip(" \t")

    def label_text(self, label: str) -> str:
        """The continuation scored for a label (``label_prefix + label``)."""
        return self.label_prefix + label


def _require(cond: bool, field: str, message: str) -> None:
    if not cond:
        raise SpecError(field, message)


def _given(doc: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``doc`` that are set (a null value counts as left out)."""
    return {key: value for key, value in doc.items() if value is not None}


def _check_format(fmt: Any, field: str, needs_label: bool) -> str:
    example = '"Review: {input}\\nSentiment: {label}\\n\\n"' if needs_label else '"Review: {input}\\nSentiment:"'
    _require(isinstance(fmt, str) and fmt.strip() != "", field, f"write the format as text, e.g. {example}.")
    try:
        pieces = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(fmt) if name is not None]
    except ValueError:
        raise SpecError(
            field, "the braces do not balance; write {input} and {label}, and {{ or }} for a literal brace."
        ) from None
    _require(
        not any(spec or conv for _, spec, conv in pieces),
        field,
        "a slot has a format code (after : or !); write plain {input} and {label}.",
    )
    names = {name for name, _, _ in pieces}
    wanted = {"input", "label"} if needs_label else {"input"}
    extra = sorted(names - wanted)
    _require(
        not extra,
        field,
        f"the format may only use {', '.join('{' + w + '}' for w in sorted(wanted))}; "
        f"remove {', '.join('{' + e + '}' for e in extra)}.",
    )
    _require(
        names == wanted,
        field,
        f"the format needs {', '.join('{' + w + '}' for w in sorted(wanted - names))}, e.g. {example}.",
    )
    try:
        fmt.format(input="x", label="y")
    except (ValueError, IndexError, KeyError):
        raise SpecError(field, f"the format cannot be filled in; write it like {example}.") from None
    return fmt


def _pairs(raw: Any, field: str, labels: list[str], what: str) -> list[LabelledText]:
    _require(isinstance(raw, list), field, f"give a list of {what}, each {{\"input\": ..., \"label\": ...}}.")
    out: list[LabelledText] = []
    for i, item in enumerate(raw):
        where = f"{field}.{i}"
        _require(
            isinstance(item, dict) and "input" in item and "label" in item,
            where,
            f"each of the {what} needs an input and a label.",
        )
        text, label = item["input"], item["label"]
        _require(isinstance(text, str) and text.strip() != "", f"{where}.input", "the input text is empty; write it.")
        _require(isinstance(label, str), f"{where}.label", "the label must be text.")
        _require(
            label in labels,
            f"{where}.label",
            f"'{label}' is not in the label set ({', '.join(labels)}); fix the label or add it to labels.",
        )
        out.append(LabelledText(text, label))
    return out


def parse_few_shot_spec(doc: Any) -> FewShotSpec:
    """Validate a few-shot spec document and fill in defaults; raise SpecError naming the field.

    A run that would score more than ``settings.MAX_SCORES`` or plan more than the memory
    budget is refused here, before any model is loaded (``settings.cost_problem``).
    """
    _require(isinstance(doc, dict), "", "the spec must be a JSON object.")
    check_document(doc)
    for key in doc:
        _require(
            key in ALLOWED_FIELDS,
            key,
            f"unknown field; a few-shot spec takes {', '.join(sorted(ALLOWED_FIELDS))}.",
        )
    _require(doc.get("kind") == "few_shot", "kind", "a few-shot spec has kind few_shot.")
    model = parse_model(doc.get("model", "default")).document()
    instruction = doc.get("instruction", "") or ""
    _require(isinstance(instruction, str), "instruction", "the instruction must be text (or empty).")

    labels = doc.get("labels")
    _require(
        isinstance(labels, list) and all(isinstance(x, str) and x.strip() != "" for x in labels or [None]),
        "labels",
        'give the label set as a list of texts, e.g. ["positive", "negative"].',
    )
    _require(len(labels) >= 2, "labels", "give at least two labels for the model to choose between.")
    _require(len(set(labels)) == len(labels), "labels", "a label is listed twice; list each label once.")

    _require("examples" in doc, "examples", "the spec has no examples; give at least one labelled example.")
    examples = _pairs(doc["examples"], "examples", labels, "examples")
    _require(len(examples) > 0, "examples", "there are no examples; give at least one labelled example.")
    _require("queries" in doc, "queries", "the spec has no queries; give at least one test item with its label.")
    queries = _pairs(doc["queries"], "queries", labels, "queries")
    _require(len(queries) > 0, "queries", "there are no queries; give at least one test item with its label.")

    example_format = _check_format(doc.get("example_format"), "example_format", needs_label=True)
    query_format = _check_format(doc.get("query_format"), "query_format", needs_label=False)

    chat = CHAT.read(doc)
    label_prefix = doc.get("label_prefix")
    if label_prefix is None:
        label_prefix = "" if chat else " "
    _require(isinstance(label_prefix, str), "label_prefix", 'the label prefix must be text, e.g. " ".')
    as_feature = INSTRUCTION_AS_FEATURE.read(doc)
    _require(
        not as_feature or instruction.strip() != "",
        "include_instruction_as_feature",
        "there is no instruction to attribute to; write one or turn this off.",
    )

    method = doc.get(METHOD.name, METHOD.default)
    method_params: dict[str, Any] = {}
    if isinstance(method, dict):
        method_params = {k: v for k, v in method.items() if k != "name"}
        names = [p.name for p in METHOD_PARAMS]
        unknown = sorted(set(method_params) - set(names))
        _require(
            not unknown, "method", f"unknown method parameter {', '.join(unknown)}; use {' or '.join(names)}."
        )
        method = method.get("name", METHOD.default)
    method = METHOD.validate(method)
    numbers = {**_given(method_params), **_given(doc)}  # max_exact and n_samples may sit in the method object
    max_exact = MAX_EXACT.read(numbers)
    n_samples = N_SAMPLES.read(numbers)
    order_trials = ORDER_TRIALS.read(numbers)
    seed = SEED.read(doc)
    normalise = NORMALISE.read(doc)

    problem = exact_problem(method, len(examples) + (1 if as_feature else 0))
    _require(problem is None, "method", problem or "")

    spec = FewShotSpec(
        model=model,
        instruction=instruction,
        examples=examples,
        example_format=example_format,
        query_format=query_format,
        queries=queries,
        labels=list(labels),
        label_prefix=label_prefix,
        chat=chat,
        include_instruction_as_feature=as_feature,
        method=method,
        max_exact=max_exact,
        n_samples=n_samples,
        order_trials=order_trials,
        seed=seed,
        raw={},
        normalise=normalise,
    )
    cost = few_shot_cost(spec.n_features, len(queries), len(labels), method, max_exact, n_samples, order_trials)
    problem = cost_problem(cost, longest_prompt_chars(spec))
    _require(problem is None, "examples", problem or "")
    spec.raw = _filled_in_document(doc, spec)
    return spec


def longest_prompt_chars(spec: FewShotSpec) -> int:
    """Characters of the longest prompt the run writes: the instruction, every example and the longest query.

    Every other prompt (a subset of the examples, in any order) is no longer; chat wrapping is left out.
    """
    return len(spec.user_text(range(len(spec.examples)), longest_query(spec)))


def longest_query(spec: FewShotSpec) -> int:
    """The index of the query with the longest input (the first of equals)."""
    return max(range(len(spec.queries)), key=lambda q: len(spec.queries[q].input))


def _filled_in_document(doc: dict[str, Any], spec: FewShotSpec) -> dict[str, Any]:
    """A copy of the spec document with every field set to its validated value (defaults filled in).

    Fields keep the dataclass's order, examples and queries become ``{"input", "label"}``
    dicts, and nothing in the copy is shared with ``doc`` or ``spec``.
    """
    fields = dataclasses.asdict(spec)
    del fields["raw"]
    raw = copy.deepcopy(doc)
    raw.update(kind="few_shot", **fields)
    return raw


# ---------------------------------------------------------------- CSV uploads


def load_pairs_csv(source: str | Path | bytes | TextIO | BinaryIO, field: str = "examples") -> list[dict[str, str]]:
    """Read labelled texts from a CSV with the columns ``input`` and ``label``.

    Args:
        source: the CSV text itself (a str or bytes: always data, never read as a
            file name, so text typed in the browser cannot open a file on the server),
            an open file, or a ``pathlib.Path`` (for scripts and the command line).
        field: the spec field the rows are for ("examples" or "queries"), named in errors.

    Returns a list of ``{"input": ..., "label": ...}`` (other columns are ignored;
    column names are matched without regard to case or surrounding spaces).
    """
    if isinstance(source, bytes):
        text = source.decode("utf-8-sig", errors="replace")
    elif isinstance(source, Path):
        if not source.is_file():
            raise SpecError(field, f"there is no CSV file at {source}; give the path of a CSV file.")
        text = source.read_text(encoding="utf-8-sig")
    elif isinstance(source, str):
        text = source
    else:
        data = source.read()
        text = data.decode("utf-8-sig", errors="replace") if isinstance(data, bytes) else data
    text = text.lstrip("\ufeff")
    try:
        reader = csv.reader(io.StringIO(text))
        rows = [r for r in reader if any(cell.strip() for cell in r)]
    except csv.Error as exc:
        raise SpecError(field, f"the CSV cannot be read ({exc}); save it as comma-separated text.") from None
    if not rows:
        raise SpecError(field, "the CSV is empty; give a header row input,label and one row per item.")
    header = [h.strip().lower() for h in rows[0]]
    if "input" not in header or "label" not in header:
        shown = ", ".join(h or "(blank)" for h in rows[0]) or "none"
        raise SpecError(
            field,
            f"the CSV needs the columns input and label, but its header has {shown}; rename the columns.",
        )
    i_in, i_lab = header.index("input"), header.index("label")
    out: list[dict[str, str]] = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) <= max(i_in, i_lab):
            raise SpecError(field, f"row {line} of the CSV has no {'label' if len(row) > i_in else 'input'}; fill it in.")
        out.append({"input": row[i_in].strip(), "label": row[i_lab].strip()})
    if not out:
        raise SpecError(field, "the CSV has a header but no rows; add one row per item.")
    return out


def load_examples_csv(source: str | Path | bytes | TextIO | BinaryIO) -> list[dict[str, str]]:
    """Few-shot examples from a CSV with columns input,label (see ``load_pairs_csv``)."""
    return load_pairs_csv(source, "examples")


def load_queries_csv(source: str | Path | bytes | TextIO | BinaryIO) -> list[dict[str, str]]:
    """Test queries with expected labels from a CSV with columns input,label."""
    return load_pairs_csv(source, "queries")


# ---------------------------------------------------------------- presets


def few_shot_presets() -> dict[str, dict[str, Any]]:
    """The shipped task presets: preset name -> a complete few-shot spec document.

    Each preset is a JSON spec under ``core/probes/few_shot/presets/`` (see its README for
    where the texts come from). A fresh copy is returned on every call.
    """
    presets: dict[str, dict[str, Any]] = {}
    for path in sorted(PRESET_DIR.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        presets[path.stem] = doc
    return presets
