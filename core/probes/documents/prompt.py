"""The prompt a document probe runs, in pieces: what comes before the document, each source, what comes after.

The model reads ``before + kept sources' tokens + after`` and then the answer. Each source is
tokenized on its own (with the whitespace before it), so removing a source never changes the
tokens of the others: an ablation that removes source i shares every token before i with the
full prompt, and the prefix-tree scorer runs that shared prefix once. User text (document,
question, answer) is tokenized as text; only the chat template's own control tokens are control
tokens. ``shown`` is the full prompt's text, as the model reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.attribution.features import chat_wrapping, control_split, encode_text
from core.errors import SpecError
from core.probes.documents.sources import SourceTree, build_tree

CHARS_PER_CONTEXT_TOKEN = 8
"""Characters of a document tokenized per token of context when checking that it fits (twice typical text's)."""


@dataclass(frozen=True)
class DocumentPrompt:
    """A document's prompt in pieces (token ids) and its text.

    Attributes:
        before: ids before the document (chat prefix, template text, the question when it comes first).
        sources: each leaf's ids (its text with the whitespace before it).
        after: ids after the document (its trailing text, the template's rest, chat suffix).
        shown: the full prompt's text.
    """

    before: tuple[int, ...]
    sources: tuple[tuple[int, ...], ...]
    after: tuple[int, ...]
    shown: str

    def ids(self, keep: np.ndarray | None = None) -> list[int]:
        """The prompt's ids with the sources where ``keep`` is True (all of them when None)."""
        kept = self.sources if keep is None else [s for s, k in zip(self.sources, keep) if k]
        return [*self.before, *(t for s in kept for t in s), *self.after]

    @property
    def length(self) -> int:
        """Tokens of the full prompt."""
        return len(self.before) + sum(len(s) for s in self.sources) + len(self.after)


def _controls(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []


def _chat_parts(tokenizer: Any) -> tuple[str, str, str, str]:
    """The chat template as (control text before, plain text before, plain text after, control text after)."""
    prefix, suffix = chat_wrapping(tokenizer)
    marker = "\ue000DOCUMENT\ue000"
    control_before, user, control_after = control_split(
        tokenizer, prefix + marker + suffix, True, (prefix, suffix)
    )
    plain_before, plain_after = user.split(marker)
    return control_before, plain_before, plain_after, control_after


def build_prompt(
    tokenizer: Any, tree: SourceTree, question: str, template: str, chat: bool
) -> DocumentPrompt:
    """The prompt of ``tree``'s document and ``question`` laid out by ``template``, chat-wrapped when ``chat``."""
    head, rest = template.split("{document}")
    head, rest = head.replace("{question}", question), rest.replace("{question}", question)
    if chat:
        control_before, plain_before, plain_after, control_after = _chat_parts(tokenizer)
    else:
        control_before, plain_before, plain_after, control_after = "", "", "", ""
    start = list(tokenizer("", add_special_tokens=True)["input_ids"]) if not chat else []
    before = start + _controls(tokenizer, control_before) + encode_text(tokenizer, plain_before + head)
    pieces = tree.pieces()
    sources = tuple(tuple(encode_text(tokenizer, p)) for p in pieces)
    after = encode_text(tokenizer, tree.tail() + rest + plain_after) + _controls(tokenizer, control_after)
    shown = control_before + plain_before + head + tree.text + rest + plain_after + control_after
    return DocumentPrompt(tuple(before), sources, tuple(after), shown)


def fitted(
    tokenizer: Any,
    text: str,
    level: str,
    question: str,
    template: str,
    chat: bool,
    answer_tokens: int,
    max_context: int,
    truncate: bool,
) -> tuple[SourceTree, DocumentPrompt, int]:
    """The tree and prompt of the document, cut to the sentences that fit the context when ``truncate``.

    Returns the tree, its prompt and the characters of the document left out (0 when it all fits).
    At most ``CHARS_PER_CONTEXT_TOKEN`` characters per token of context are tokenized, so a huge
    paste is measured in about a second.

    Raises:
        SpecError: the prompt and answer do not fit and ``truncate`` is off (the sentence says by how
            many tokens, and how much of the document would fit), or not even the first sentence fits.
    """
    head = text[: max_context * CHARS_PER_CONTEXT_TOKEN]
    tree = build_tree(head, level)
    if not tree.leaves:
        raise SpecError("document", "the document has no words; paste text with sentences in it.")
    prompt = build_prompt(tokenizer, tree, question, template, chat)
    total = prompt.length + answer_tokens
    if total <= max_context and len(head) == len(text):
        return tree, prompt, 0
    unit = "word" if level == "word" else "sentence"
    units = tree if level == unit else build_tree(head, unit)
    pieces = (
        prompt.sources if units is tree else build_prompt(tokenizer, units, question, template, chat).sources
    )
    room = max_context - answer_tokens - len(prompt.before) - len(prompt.after)
    used, fit = 0, 0
    for ids in pieces:
        if used + len(ids) > room:
            break
        used, fit = used + len(ids), fit + 1
    over = f"{total - max_context:,}" if len(head) == len(text) else f"over {total - max_context:,}"
    said = (
        f"the prompt and answer take {'' if len(head) == len(text) else 'over '}{total:,} tokens, {over} more than "
        f"this model's context of {max_context:,} tokens"
    )
    if fit == 0:
        raise SpecError(
            "document",
            f"{said}, and not even the first {unit} fits beside the question and the answer; shorten them.",
        )
    end = units.spans[units.leaves[fit - 1]][1]
    if not truncate:
        raise SpecError(
            "document",
            f"{said}; the first {fit:,} {unit}s ({end:,} of {len(text):,} characters) fit: choose to attribute the "
            "part that fits, or shorten the document.",
        )
    tree = build_tree(text[:end], level)
    return tree, build_prompt(tokenizer, tree, question, template, chat), len(text) - end
