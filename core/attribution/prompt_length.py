"""Whether a prompt fits the model's context: checked in characters first, then in tokens counted in chunks.

A pasted text of 20 MB must not be tokenized whole (gigabytes, over a minute) to learn that it is
too long. A token covers at most :func:`longest_token_chars` characters, so a text longer than
that many characters per token of context cannot fit: it is refused before any tokenizing. A
shorter text is tokenized in chunks of :data:`CHUNK_CHARS` characters, cut at a space where
there is one; counting stops as soon as the tokens so far (less one per cut, which may have split
a token) exceed the context. Only a text that may fit is tokenized whole.
"""

from __future__ import annotations

import weakref
from typing import Any

from core.errors import SpecError

CHUNK_CHARS = 50_000
"""Characters tokenized at a time while counting (a few megabytes of tokenizer memory)."""
TYPICAL_CHARS_PER_TOKEN = 4.0
"""Characters per token of English text (the bundled tokenizer: about 4.2), for "about N times too long"."""
_LONGEST: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def longest_token_chars(tokenizer: Any) -> int:
    """The most characters one token of ``tokenizer`` can cover (the longest entry of its vocabulary).

    A byte-level vocabulary holds one character per byte of the token (so at least its characters);
    a SentencePiece one its characters, "▁" for a space.
    """
    try:
        return _LONGEST[tokenizer]
    except (KeyError, TypeError):
        pass
    try:
        longest = max((len(str(token)) for token in tokenizer.get_vocab()), default=1) or 1
    except (AttributeError, TypeError, NotImplementedError):
        longest = 64
    try:
        _LONGEST[tokenizer] = longest
    except TypeError:  # not weakly referenceable: measured again next time
        pass
    return longest


def _times(chars: float, tokens: int) -> str:
    """ "about 1,280 times" as long as ``tokens`` tokens of typical text."""
    times = chars / TYPICAL_CHARS_PER_TOKEN / max(tokens, 1)
    return f"about {times:,.0f} times" if times >= 2 else f"about {times:.1f} times"


def prompt_length_problem(
    text: str, tokenizer: Any, max_context: int, what: str = "the prompt"
) -> str | None:
    """Why ``text`` cannot fit a context of ``max_context`` tokens (a sentence), or None when it may.

    Never tokenizes more than :data:`CHUNK_CHARS` characters at a time, and stops counting
    as soon as the text is known to be too long.
    """
    chars = len(text)
    most = max_context * longest_token_chars(tokenizer)
    if chars > most:
        return (
            f"{what} is {chars:,} characters, {_times(chars, max_context)} as long as this model's context of "
            f"{max_context:,} tokens holds (no text over {most:,} characters fits in it); shorten it by at least "
            f"{chars - most:,} characters."
        )
    if chars <= CHUNK_CHARS:
        return None
    counted, cuts, start = 0, 0, 0
    while start < chars:
        end = min(start + CHUNK_CHARS, chars)
        if end < chars:
            space = text.rfind(" ", start + CHUNK_CHARS // 2, end)
            end = space if space > start else end
            cuts += 1
        enc = tokenizer(text[start:end], add_special_tokens=False, split_special_tokens=True)
        counted += len(enc["input_ids"])
        start = end
        if counted - cuts > max_context:
            known = counted - cuts
            if start >= chars:
                said = f"is about {known:,} tokens"
                over = chars - chars * max_context // known
            else:
                said = f"is more than {known:,} tokens (its first {start:,} characters alone)"
                over = chars - start * max_context // known
            return (
                f"{what} {said}, longer than this model's context of {max_context:,} tokens "
                f"({_times(chars, max_context)} as long); shorten it by about {over:,} characters."
            )
    return None


def check_prompt_length(text: str, lm: Any, field: str = "prompt", what: str = "the prompt") -> None:
    """Refuse (``SpecError``) a prompt that cannot fit ``lm``'s context, before it is tokenized whole."""
    problem = prompt_length_problem(text, lm.tokenizer, lm.max_context, what)
    if problem:
        raise SpecError(field, problem)


def attribution_prompt_texts(spec: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(field, what, text) of the long texts an attribution spec's model must read: its prompt and targets."""
    out = []
    prompt = spec.get("prompt")
    if isinstance(prompt, dict) and isinstance(prompt.get("text"), str):
        out.append(("prompt", "the prompt", prompt["text"]))
    elif isinstance(prompt, dict) and isinstance(prompt.get("template"), str):
        values = prompt.get("values")
        filled = (
            list(values.values()) if isinstance(values, dict) else values if isinstance(values, list) else []
        )
        out.append(("prompt", "the prompt", prompt["template"] + "".join(str(v) for v in filled)))
    target = spec.get("target")
    for key in ("text", "contrast"):
        if isinstance(target, dict) and isinstance(target.get(key), str):
            out.append((f"target.{key}", "the target", target[key]))
    return out
