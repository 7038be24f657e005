"""Feature inputs: templates with slots, automatic segmentation, baselines, chat wrapping.

A prompt is laid out as a list of parts: literal text (context, never
attributed) and slots (text that can be perturbed). Features are what the
methods attribute to: one slot, or a group of slots perturbed together. A
coalition says which features are present; absent features' slots take their
baseline (removal, a replacement text, or an alternative sampled per trial).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.errors import SpecError
from core.text import counted, unique_labels

GRANULARITIES = ("token", "word", "sentence", "line", "paragraph")
CHAT_SENTINEL = "\u2063WHYLM_USER_TEXT\u2063"


@dataclass(frozen=True)
class Part:
    """A piece of the prompt: literal context text, or a reference to a slot."""

    text: str = ""
    slot: str | None = None


@dataclass
class Slot:
    """A perturbable piece of text.

    Attributes:
        id: the slot's name in the template ("name", or "0" for the first ``{}``).
        value: the text used when the slot's feature is present.
        baseline: the replacement when absent: a string ("" removes the slot) or a
            list of alternatives, one sampled per trial.
        lead: whitespace that belongs to the slot (segmented text): it is kept
            before a non-empty replacement and removed with the slot.
    """

    id: str
    value: str
    baseline: str | list[str] = ""
    lead: str = ""


@dataclass
class Feature:
    """One attributed feature: a label and the slots it perturbs together."""

    label: str
    slots: list[str]


@dataclass
class PromptLayout:
    """A prompt split into context and slots, with its features and chat wrapping."""

    parts: list[Part]
    slots: dict[str, Slot]
    features: list[Feature]
    paired: list[list[str]] = field(default_factory=list)
    chat_prefix: str = ""
    chat_suffix: str = ""
    chat: bool = False

    @property
    def labels(self) -> list[str]:
        """Feature labels in order."""
        return [f.label for f in self.features]

    @property
    def has_sampled_baselines(self) -> bool:
        """Whether any slot samples its baseline from a list of alternatives."""
        return any(isinstance(s.baseline, list) for s in self.slots.values())

    def sample_baselines(self, rng: np.random.Generator) -> dict[str, str]:
        """Choose one baseline text per slot for a trial; paired slots share one index."""
        chosen: dict[str, str] = {}
        done: set[str] = set()
        for pair in self.paired:
            lists = [self.slots[s].baseline for s in pair]
            n = len(lists[0])
            index = int(rng.integers(n)) if n else 0
            for slot_id, options in zip(pair, lists):
                chosen[slot_id] = options[index] if options else ""
                done.add(slot_id)
        for slot_id, slot in self.slots.items():
            if slot_id in done:
                continue
            if isinstance(slot.baseline, list):
                options = slot.baseline
                chosen[slot_id] = options[int(rng.integers(len(options)))] if options else ""
            else:
                chosen[slot_id] = slot.baseline
        return chosen

    def fixed_baselines(self) -> dict[str, str]:
        """Baselines when no slot samples (the first alternative otherwise)."""
        return {
            sid: (s.baseline[0] if s.baseline else "") if isinstance(s.baseline, list) else s.baseline
            for sid, s in self.slots.items()
        }

    def render(self, present: Sequence[bool] | np.ndarray, baselines: dict[str, str]) -> str:
        """The user text with absent features replaced by their baselines."""
        absent: set[str] = set()
        for feature, keep in zip(self.features, present):
            if not keep:
                absent.update(feature.slots)
        out: list[str] = []
        for part in self.parts:
            if part.slot is None:
                out.append(part.text)
                continue
            slot = self.slots[part.slot]
            if part.slot in absent:
                replacement = baselines[part.slot]
                out.append(slot.lead + replacement if replacement else "")
            else:
                out.append(slot.value)
        return "".join(out)

    def full_prompt(self, user_text: str) -> str:
        """The text given to the model: the user text, inside the chat template if on."""
        return f"{self.chat_prefix}{user_text}{self.chat_suffix}"

    def slot_spans(self) -> list[tuple[str, int, int]]:
        """Character spans (slot id, start, end) in the full prompt, all features present."""
        spans: list[tuple[str, int, int]] = []
        pos = len(self.chat_prefix)
        for part in self.parts:
            text = part.text if part.slot is None else self.slots[part.slot].value
            if part.slot is not None:
                spans.append((part.slot, pos, pos + len(text)))
            pos += len(text)
        return spans


# ---------------------------------------------------------------- templates


def parse_template(template: str) -> tuple[list[Part], list[str]]:
    """Split a template into parts; return the parts and slot ids in first-use order.

    Named slots are ``{name}``; positional slots ``{}`` get the ids "0", "1", ...
    Literal braces are written ``{{`` and ``}}``.
    """
    if not isinstance(template, str):
        raise SpecError("prompt.template", "the template must be text.")
    if not template.strip():
        raise SpecError("prompt.template", "the prompt is empty; write the text to explain.")
    try:
        pieces = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise SpecError(
            "prompt.template",
            f"the braces do not balance ({exc}); write {{slot}} for a slot and "
            "{{ or }} for a literal brace.",
        ) from None
    parts: list[Part] = []
    order: list[str] = []
    auto = 0
    manual = False
    for literal, name, spec, conversion in pieces:
        if literal:
            parts.append(Part(text=literal))
        if name is None:
            continue
        if spec or conversion:
            raise SpecError(
                "prompt.template",
                f"the slot {{{name}{'!' + conversion if conversion else ''}"
                f"{':' + spec if spec else ''}}} has a format code; write plain {{name}} slots.",
            )
        if name == "":
            if manual:
                raise SpecError(
                    "prompt.template", "mix of {} and {0}-style slots; use one style."
                )
            slot_id = str(auto)
            auto += 1
        elif name.isdigit():
            if auto:
                raise SpecError(
                    "prompt.template", "mix of {} and {0}-style slots; use one style."
                )
            manual = True
            slot_id = str(int(name))
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_ -]*", name):
            slot_id = name
        else:
            raise SpecError(
                "prompt.template",
                f"'{{{name}}}' is not a valid slot name; use letters, digits and underscores.",
            )
        parts.append(Part(slot=slot_id))
        if slot_id not in order:
            order.append(slot_id)
    if not order:
        raise SpecError(
            "prompt.template",
            "the template has no slots; mark the parts to explain with {name}, or use plain "
            "text with a granularity.",
        )
    return parts, order


def _per_slot(raw: Any, order: list[str], field_name: str, positional: bool) -> dict[str, Any]:
    """Normalise a list (positional) or dict (named) of per-slot entries to a dict."""
    if raw is None:
        return {}
    if isinstance(raw, list):
        if not positional:
            raise SpecError(
                field_name, "the template has named slots, so give a mapping of slot name to text."
            )
        if len(raw) > len(order):
            raise SpecError(
                field_name,
                f"{counted(len(raw), 'entry', 'entries')} given but the template has "
                f"{counted(len(order), 'slot')}; "
                "remove the extra ones.",
            )
        return {str(i): v for i, v in enumerate(raw)}
    if isinstance(raw, dict):
        out = {str(k): v for k, v in raw.items()}
        for key in out:
            if key not in order:
                raise SpecError(
                    f"{field_name}.{key}",
                    f"there is no slot {{{key}}} in the template; the slots are "
                    f"{', '.join(order)}.",
                )
        return out
    raise SpecError(field_name, "give a list (for {} slots) or a mapping of slot name to text.")


def layout_from_template(
    template: str,
    values: Any,
    baselines: Any = None,
    groups: Any = None,
    paired: Any = None,
) -> PromptLayout:
    """Build a layout from a template, its slot values, baselines and groups.

    ``baselines`` per slot: "" (removal, the default), a replacement text, or a
    list of alternatives sampled per trial. ``groups``: a mapping of group label
    to slot ids (or a list of slot-id lists); grouped slots share one feature.
    ``paired``: lists of slots whose alternative lists are sampled together.
    """
    parts, order = parse_template(template)
    positional = all(s.isdigit() for s in order)
    vals = _per_slot(values, order, "prompt.values", positional)
    for slot_id in order:
        if slot_id not in vals:
            raise SpecError(
                f"prompt.values.{slot_id}",
                f"the slot {{{slot_id if not slot_id.isdigit() else ''}}} "
                f"(slot {slot_id}) has no value; give its text.",
            )
        if not isinstance(vals[slot_id], str):
            raise SpecError(f"prompt.values.{slot_id}", "a slot value must be text.")
        if not vals[slot_id].strip():
            raise SpecError(f"prompt.values.{slot_id}", f"{slot_name(slot_id)} is empty; write the text that fills it.")
    bases = _per_slot(baselines, order, "prompt.baselines", positional)
    slots: dict[str, Slot] = {}
    for slot_id in order:
        base = bases.get(slot_id, "")
        if base is None:
            base = ""
        if isinstance(base, list):
            if not base or not all(isinstance(b, str) for b in base):
                raise SpecError(
                    f"prompt.baselines.{slot_id}",
                    "a list of alternatives must hold at least one text.",
                )
        elif not isinstance(base, str):
            raise SpecError(
                f"prompt.baselines.{slot_id}", "a baseline is a text or a list of texts."
            )
        slots[slot_id] = Slot(id=slot_id, value=vals[slot_id], baseline=base)
    features = _features_from_groups(groups, order, slots, positional)
    pairs = _validate_pairs(paired, slots)
    return PromptLayout(parts=parts, slots=slots, features=features, paired=pairs)


def slot_name(slot_id: str) -> str:
    """A slot named for a sentence: "the slot {job}", or "slot 2" for the second of the template's {} slots."""
    if slot_id.isdigit():
        return f"slot {int(slot_id) + 1} (the {_ordinal(int(slot_id) + 1)} {{}})"
    return f"the slot {{{slot_id}}}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _slot_label(slot: Slot, positional: bool) -> str:
    return slot.value.strip() or slot.id if positional else slot.id


def _features_from_groups(
    groups: Any, order: list[str], slots: dict[str, Slot], positional: bool
) -> list[Feature]:
    members: list[tuple[str | None, list[str]]] = []
    if groups:
        if isinstance(groups, dict):
            items = [(str(k), v) for k, v in groups.items()]
        elif isinstance(groups, list):
            items = [(None, v) for v in groups]
        else:
            raise SpecError("prompt.groups", "give a mapping of group label to a list of slots.")
        for label, group in items:
            where = f"prompt.groups.{label}" if label else "prompt.groups"
            if not isinstance(group, list) or not group:
                raise SpecError(where, "a group is a non-empty list of slot names.")
            ids = [str(g) for g in group]
            for sid in ids:
                if sid not in slots:
                    raise SpecError(
                        where,
                        f"there is no slot {{{sid}}} in the template; the slots are "
                        f"{', '.join(order)}.",
                    )
            members.append((label, ids))
        seen: set[str] = set()
        for _, ids in members:
            for sid in ids:
                if sid in seen:
                    raise SpecError("prompt.groups", f"the slot {sid} is in two groups; keep one.")
                seen.add(sid)
    grouped = {sid: i for i, (_, ids) in enumerate(members) for sid in ids}
    features: list[Feature] = []
    emitted: set[int] = set()
    for sid in order:
        if sid in grouped:
            gi = grouped[sid]
            if gi in emitted:
                continue
            emitted.add(gi)
            label, ids = members[gi]
            ids_sorted = [s for s in order if s in ids]
            if label is None:
                label = "+".join(_slot_label(slots[s], positional) for s in ids_sorted)
            features.append(Feature(label=label, slots=ids_sorted))
        else:
            features.append(Feature(label=_slot_label(slots[sid], positional), slots=[sid]))
    _refuse_group_names_of_other_features(members, features)
    _dedupe_labels(features)
    return features


def _refuse_group_names_of_other_features(members: list[tuple[str | None, list[str]]], features: list[Feature]) -> None:
    """Refuse a group named like another feature (``{"city": ["name"]}`` beside the slot {city}).

    Its label would be taken by the group, and the real slot would show as "city (2)":
    labels must say which part of the prompt they are.
    """
    for label, ids in members:
        if label is None:
            continue
        for feature in features:
            if set(feature.slots) & set(ids) or feature.label.strip() != label.strip():
                continue  # the group itself, or a feature of another name
            named = f"the slot {{{feature.slots[0]}}}" if feature.label in feature.slots else f"the feature '{label}'"
            raise SpecError(
                f"prompt.groups.{label}",
                f"the group '{label}' has the name of {named}, which is not in the group; "
                f"name the group differently (for example '{label} group').",
            )


def pairing_problem(ids: Sequence[str], baselines: Mapping[str, Any]) -> SpecError | None:
    """Why the slots ``ids`` cannot be paired (their alternatives drawn together), or None when they can.

    Paired slots each need a list of alternatives as their baseline, and the
    lists must be of one length (they line up one to one). ``baselines`` maps
    a slot to its baseline (a text or a list of texts). The spec parser refuses
    a pairing with this error; the form pairs a group only when it is None.
    """
    for sid in ids:
        if not isinstance(baselines.get(sid), list):
            return SpecError(
                f"prompt.baselines.{sid}", "a paired slot needs a list of alternatives as its baseline."
            )
    if len({len(baselines[sid]) for sid in ids}) > 1:
        return SpecError(
            "prompt.paired",
            f"the alternatives of {', '.join(ids)} have different lengths; paired lists "
            "must line up one to one.",
        )
    return None


def paired_groups(groups: Mapping[str, Sequence[str]], baselines: Mapping[str, Any]) -> list[list[str]]:
    """The groups of several slots that can be paired (:func:`pairing_problem`), e.g. a name and its pronoun."""
    return [list(ids) for ids in groups.values() if len(ids) > 1 and pairing_problem(ids, baselines) is None]


def _validate_pairs(paired: Any, slots: dict[str, Slot]) -> list[list[str]]:
    if not paired:
        return []
    if not isinstance(paired, list) or not all(isinstance(p, list) for p in paired):
        raise SpecError("prompt.paired", "give a list of slot lists, e.g. [[\"name\", \"pronoun\"]].")
    baselines = {sid: slot.baseline for sid, slot in slots.items()}
    out: list[list[str]] = []
    for pair in paired:
        ids = [str(p) for p in pair]
        for sid in ids:
            if sid not in slots:
                raise SpecError("prompt.paired", f"there is no slot {{{sid}}} in the template.")
        problem = pairing_problem(ids, baselines)
        if problem is not None:
            raise problem
        out.append(ids)
    return out


def _dedupe_labels(features: list[Feature]) -> None:
    labels = unique_labels((f.label for f in features), blank=lambda label: label or "(empty)")
    for feature, label in zip(features, labels):
        feature.label = label


# ---------------------------------------------------------------- plain text


_WORD = re.compile(r"\w+(?:['\u2019]\w+)*|[^\w\s]+")
# A sentence ends at . ! ? or … (then closing quotes or brackets) before a space or the end, or at a
# CJK full stop, exclamation or question mark (no space follows those), or at a blank line.
_SENTENCE_END = re.compile(
    r"[.!?\u2026]+[\"'\u201d\u2019)\]]*(?=\s|\Z)|[\u3002\uff01\uff1f\uff61]+[\u300d\u300f\u201d\u2019)\uff09]*"
)
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
ABBREVIATIONS = frozenset(
    "dr mr mrs ms mx prof sr jr st mt ft rev gen col capt lt sgt hon vs etc al fig figs no nos vol pp ch "
    "approx dept est inc ltd co corp jan feb mar apr jun jul aug sep sept oct nov dec e.g i.e a.m p.m cf".split()
)
"""Words that end with a period without ending a sentence ("Dr.", "St.", "e.g."), lower case, without the last period."""
_INITIALS = re.compile(r"(?:[^\W\d_]\.)*[^\W\d_]")  # "J", "U.S", "e.g": a letter, or letters joined by periods


def _is_abbreviation(text: str, end: re.Match[str]) -> bool:
    """Whether the period that ``end`` matched closes an abbreviation or an initial rather than a sentence."""
    if end.group() != ".":
        return False
    start = end.start()
    while start > 0 and not text[start - 1].isspace() and text[start - 1] not in "([{\"'\u201c\u2018":
        start -= 1
    word = text[start : end.start()]
    if word.lower() in ABBREVIATIONS or _INITIALS.fullmatch(word):
        return True
    following = text[end.end() :].lstrip()
    return bool(following) and following[0].islower()  # "approx. three": the sentence goes on


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text``.

    A sentence ends at ., !, ? or … followed by a space (not after an abbreviation such
    as "Dr.", "St.", "e.g.", "U.S." or an initial, nor before a lower-case word), at 。！？
    (which need no space after them), and at a blank line.
    """
    cuts = {m.end() for m in _SENTENCE_END.finditer(text) if not _is_abbreviation(text, m)}
    cuts.update(m.start() for m in _BLANK_LINE.finditer(text))
    spans = []
    pos = 0
    for cut in [*sorted(cuts), len(text)]:
        start, end = pos, cut
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            spans.append((start, end))
        pos = max(pos, cut)
    return spans

_LINE = re.compile(r"[^\n]*\S[^\n]*")
_PARAGRAPH = re.compile(r"\S(?:(?!\n[ \t]*\n).)*", re.S)


def segment_spans(text: str, granularity: str, tokenizer: Any = None) -> list[tuple[int, int]]:
    """Character spans (start, end) of the segments of ``text`` at a granularity."""
    if granularity == "token":
        if tokenizer is None:
            raise ValueError("token segmentation needs a tokenizer")
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, split_special_tokens=True)
        spans = []
        for start, end in enc["offset_mapping"]:
            # Tokens carry their leading space; keep it as the slot's lead.
            while start < end and text[start].isspace():
                start += 1
            if start < end:
                if spans and start < spans[-1][1]:
                    spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
                else:
                    spans.append((start, end))
        return spans
    if granularity == "sentence":
        return sentence_spans(text)
    pattern = {"word": _WORD, "line": _LINE, "paragraph": _PARAGRAPH}.get(granularity)
    if pattern is None:
        raise SpecError(
            "prompt.granularity",
            f"'{granularity}' is not a granularity; choose one of {', '.join(GRANULARITIES)}.",
        )
    spans = []
    for match in pattern.finditer(text):
        start, end = match.start(), match.end()
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            spans.append((start, end))
    return spans


def layout_from_text(
    text: str, granularity: str, tokenizer: Any = None, baseline: str = ""
) -> PromptLayout:
    """Segment plain text into features at a granularity (token, word, sentence, ...).

    Whitespace before each segment belongs to it: removing a word removes its
    leading space; a replacement keeps it.
    """
    if not isinstance(text, str) or not text.strip():
        raise SpecError("prompt.text", "the prompt is empty; write the text to explain.")
    if granularity not in GRANULARITIES:
        raise SpecError(
            "prompt.granularity",
            f"'{granularity}' is not a granularity; choose one of {', '.join(GRANULARITIES)}.",
        )
    if not isinstance(baseline, str):
        raise SpecError("prompt.baseline", "the baseline for segments must be a text.")
    spans = segment_spans(text, granularity, tokenizer)
    parts: list[Part] = []
    slots: dict[str, Slot] = {}
    features: list[Feature] = []
    pos = 0
    for index, (start, end) in enumerate(spans):
        lead_start = start
        while lead_start > pos and text[lead_start - 1].isspace():
            lead_start -= 1
        if lead_start > pos:
            parts.append(Part(text=text[pos:lead_start]))
        slot_id = f"s{index}"
        slots[slot_id] = Slot(
            id=slot_id, value=text[lead_start:end], baseline=baseline, lead=text[lead_start:start]
        )
        parts.append(Part(slot=slot_id))
        features.append(Feature(label=text[start:end].strip(), slots=[slot_id]))
        pos = end
    if pos < len(text):
        parts.append(Part(text=text[pos:]))
    _dedupe_labels(features)
    return PromptLayout(parts=parts, slots=slots, features=features)


# ---------------------------------------------------------------- chat and tokens


def chat_wrapping(tokenizer: Any) -> tuple[str, str]:
    """The chat template's text before and after the user message (assistant prefix included)."""
    if not getattr(tokenizer, "chat_template", None):
        raise SpecError(
            "chat", "this model has no chat template; turn chat mode off for this model."
        )
    wrapped = tokenizer.apply_chat_template(
        [{"role": "user", "content": CHAT_SENTINEL}], tokenize=False, add_generation_prompt=True
    )
    if wrapped.count(CHAT_SENTINEL) != 1:
        raise SpecError("chat", "this model's chat template cannot hold a prompt; turn chat off.")
    prefix, suffix = wrapped.split(CHAT_SENTINEL)
    return prefix, suffix


def apply_chat(layout: PromptLayout, tokenizer: Any) -> PromptLayout:
    """Place the user text inside the model's chat template (template tokens are context)."""
    layout.chat_prefix, layout.chat_suffix = chat_wrapping(tokenizer)
    layout.chat = True
    return layout


def encode_text(tokenizer: Any, text: str) -> list[int]:
    """Token ids of text a user wrote (a target, a label): as text, never as control tokens.

    ``<|im_end|>`` or ``<|endoftext|>`` typed by a user is the characters it is made of
    (the tokenizer's ``split_special_tokens``), not the model's end-of-turn or end-of-text token.
    """
    return list(tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"])


def _control_texts(tokenizer: Any) -> list[str]:
    """The texts the tokenizer reads as control tokens (its added tokens: ``<|im_start|>`` and the like)."""
    added = getattr(tokenizer, "added_tokens_decoder", None) or {}
    texts = [str(getattr(token, "content", token)) for token in added.values()]
    return [t for t in texts if t] or [str(t) for t in getattr(tokenizer, "all_special_tokens", []) if t]


def control_split(
    tokenizer: Any, text: str, chat: bool, wrapping: tuple[str, str] | None = None
) -> tuple[str, str, str]:
    """A full prompt as (template before, user part, template after).

    Only the chat template's own text may hold control tokens: the part before ends at the
    template's last control token before the user message, the part after starts at its first
    control token after it. Everything between (the user text, and template text such as
    "user" and its line break, read by the tokenizer together with it) is encoded as text.
    Without chat, or when ``text`` is not wrapped in this tokenizer's chat template, it is all
    user text. ``wrapping`` is :func:`chat_wrapping`'s answer when the caller has it already.
    """
    if not chat:
        return "", text, ""
    prefix, suffix = wrapping or chat_wrapping(tokenizer)
    if len(text) < len(prefix) + len(suffix) or not (text.startswith(prefix) and text.endswith(suffix)):
        return "", text, ""
    controls = _control_texts(tokenizer)
    cut = max((prefix.rfind(c) + len(c) for c in controls if c in prefix), default=0)
    after = min((suffix.find(c) for c in controls if c in suffix), default=len(suffix))
    end = len(text) - len(suffix) + after
    return text[:cut], text[cut:end], text[end:]


def _encode_pieces(
    tokenizer: Any, text: str, chat: bool, offsets: bool = False
) -> tuple[list[int], list[tuple[int, int]]]:
    """Ids (and character offsets in ``text``) of a full prompt, user text encoded as text."""
    before, user, after = control_split(tokenizer, text, chat)
    ids: list[int] = []
    spans: list[tuple[int, int]] = []
    start = 0
    for piece, as_text in ((before, False), (user, True), (after, False)):
        if piece or (as_text and not chat):
            enc = tokenizer(
                piece, add_special_tokens=not chat, split_special_tokens=as_text, return_offsets_mapping=offsets
            )
            ids += list(enc["input_ids"])
            if offsets:
                spans += [(s + start, e + start) if e > s else (s, e) for s, e in enc["offset_mapping"]]
        start += len(piece)
    return ids, spans


def encode_prompt(tokenizer: Any, text: str, chat: bool) -> list[int]:
    """Token ids of a full prompt (special tokens added as the tokenizer does, except in chat).

    The user's text is encoded as text (:func:`control_split`): only the chat template's
    own control tokens are control tokens.
    """
    return _encode_pieces(tokenizer, text, chat)[0]


def encode_prompts(tokenizer: Any, texts: Sequence[str], chat: bool) -> list[list[int]]:
    """Token ids of many full prompts at once (as :func:`encode_prompt` encodes each)."""
    if not texts:
        return []
    if not chat:
        enc = tokenizer(list(texts), add_special_tokens=True, split_special_tokens=True)
        return [list(ids) for ids in enc["input_ids"]]
    wrapping = chat_wrapping(tokenizer)
    parts = [control_split(tokenizer, text, chat, wrapping) for text in texts]
    users = tokenizer([user for _, user, _ in parts], add_special_tokens=False, split_special_tokens=True)
    known: dict[str, list[int]] = {}

    def controls(piece: str) -> list[int]:
        if piece not in known:
            known[piece] = list(tokenizer(piece, add_special_tokens=False)["input_ids"]) if piece else []
        return known[piece]

    return [controls(b) + list(ids) + controls(a) for (b, _, a), ids in zip(parts, users["input_ids"])]


def token_texts(text: str, ids: Sequence[int], offsets: Sequence[tuple[int, int]], tokenizer: Any) -> list[str]:
    """Each token's text as written in ``text``, from the tokenizer's character offsets.

    A token runs from the end of the token before it to its own end, so the tokens
    join up to the text (spaces included). Decoding each token on its own would show
    "\ufffd" for a character (an emoji, a CJK character) split over several byte-level
    tokens; here the character belongs to the first of its tokens and the others
    are empty. A token with no characters in the text (a special token added by the
    tokenizer) is decoded.
    """
    out = []
    pos = 0
    for token_id, (start, end) in zip(ids, offsets):
        if end <= start:
            out.append(tokenizer.decode([token_id]))
            continue
        out.append(text[pos:end] if end > pos else "")
        pos = max(pos, end)
    return out


def prompt_tokens_and_coverage(
    layout: PromptLayout, tokenizer: Any
) -> tuple[list[str], list[list[int]], list[int]]:
    """Prompt token strings, the token indices each feature covers, and user-token indices.

    Computed on the prompt with every feature present. The third list holds the
    indices of tokens inside the user text (outside the chat template).
    """
    user_text = layout.render([True] * len(layout.features), {})
    full = layout.full_prompt(user_text)
    ids, offsets = _encode_pieces(tokenizer, full, layout.chat, offsets=True)
    tokens = token_texts(full, ids, offsets, tokenizer)
    spans = layout.slot_spans()
    slot_tokens: dict[str, set[int]] = {}
    for slot_id, start, end in spans:
        hit = slot_tokens.setdefault(slot_id, set())
        for t, (s, e) in enumerate(offsets):
            if s < end and e > start and e > s:
                hit.add(t)
    coverage = [
        sorted(set().union(*(slot_tokens.get(s, set()) for s in f.slots))) for f in layout.features
    ]
    u_start, u_end = len(layout.chat_prefix), len(full) - len(layout.chat_suffix)
    user_idx = [t for t, (s, e) in enumerate(offsets) if s < u_end and e > u_start and e > s]
    return tokens, coverage, user_idx
