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
import math
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, ClassVar, Self, Union, get_args, get_origin

from core.errors import WhyLMError

RESULT_FORMAT = 1
"""The format every result is written in. A document without ``format`` predates formats (0)."""

MAX_TEXT = 100_000
"""The most characters any text in a result may have (a label, a prompt, a sentence)."""
MAX_NESTING = 32
"""The most levels of lists and objects inside a result's field (computed results use about 6)."""
MAX_NAME = 500
"""The most characters of a name in ``meta`` (model name, revision, method): the store's column width."""
MAX_WHOLE = 2**63
"""Whole numbers beyond this size are refused (they cannot be a count, an index or a float)."""
MAX_SECONDS = 1e9
"""The longest run time ``meta`` may state, in seconds (about 30 years)."""


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
        """JSON text (floats keep full precision; NaN and infinity, which JSON lacks, become null)."""
        return json_text(self.to_dict(), indent=indent)

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
        doc = cls.upgrade(dict(doc), version)  # also at the current format: a setting added since fills in
        missing = cls.missing_fields(doc)
        if missing:
            raise WhyLMError(f"This is not a {cls.document_name}: it lacks {', '.join(missing)}.")
        cls.check_fields(doc)
        result = cls.from_known_keys({**doc, "format": RESULT_FORMAT})
        result.check()
        return result

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
        """A document of an older ``version`` (or of the current one, saved before a setting existed) in the
        current shape (a copy; the default changes nothing).

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

    # --- the same checks for every result read back (an import, a stored run) -----------

    @classmethod
    def refuse(cls, problem: str) -> WhyLMError:
        """The error for a document that is not a result of this class: ``problem`` says what is wrong."""
        return WhyLMError(f"This is not a {cls.document_name}: {problem}.")

    @classmethod
    def check_fields(cls, doc: dict[str, Any]) -> None:
        """Refuse, with a sentence, a document whose fields do not have the types the class declares.

        Texts are at most ``MAX_TEXT`` characters, declared numbers finite, nesting at most
        ``MAX_NESTING`` levels, and ``meta`` sane (names are short text, times and counts are
        non-negative numbers): a document read back is held to what a computed result is.
        """
        hints = _field_hints(cls)
        for name, hint in hints.items():
            if name in doc:
                try:
                    check_value(doc[name], hint, name)
                except _Mismatch as exc:
                    raise cls.refuse(str(exc)) from None
        meta = doc.get("meta")
        if "meta" in hints and isinstance(meta, dict):
            problem = meta_problem(meta)
            if problem:
                raise cls.refuse(problem)

    def check(self) -> None:
        """Refuse, with :meth:`refuse`, fields that disagree with each other (the default checks nothing).

        A subclass whose fields must agree (one number per feature, say) overrides this.
        """


# --- checking a document against the declared field types ----------------------------------

_HINTS: dict[type, dict[str, Any]] = {}
_META_NAMES = ("model_name", "model_revision", "method", "device", "version")
_META_TIMES = ("seconds", "load_seconds")
_META_COUNTS = ("forward_passes", "model_calls", "n_features", "trials")


class _Mismatch(Exception):
    """A value that is not of its declared type; the message says where and what (no sentence yet)."""


def _field_hints(cls: type) -> dict[str, Any]:
    """The declared types of a result class's own fields (``kind`` and ``format`` are checked apart)."""
    if cls not in _HINTS:
        hints = typing.get_type_hints(cls)
        _HINTS[cls] = {f.name: hints[f.name] for f in fields(cls) if f.name not in ("kind", "format")}
    return _HINTS[cls]


def _shown(value: Any) -> str:
    """A value in words for a sentence: its JSON type, with a short quote of text and numbers."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        quoted = value if len(value) <= 30 else value[:27] + "..."
        return f"the text {quoted!r}"
    if isinstance(value, (int, float)):
        return "a number too large to use" if _too_large(value) else f"the number {value!r}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _too_large(value: int | float) -> bool:
    """Whether a whole number is beyond ``MAX_WHOLE`` (a float is never too large)."""
    return isinstance(value, int) and abs(value) > MAX_WHOLE


def _is_number(value: Any) -> bool:
    """Whether ``value`` is a JSON number (not true/false) of a usable size."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not _too_large(value)


def check_json(value: Any, where: str, depth: int = 0) -> None:
    """Check a free-form JSON value: texts at most ``MAX_TEXT``, nesting at most ``MAX_NESTING``.

    Raises:
        _Mismatch: where the value breaks a bound.
    """
    if value is None or isinstance(value, bool) or isinstance(value, float):
        return
    if isinstance(value, int):
        if _too_large(value):
            raise _Mismatch(f"its {where} is a number too large to use")
        return
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise _Mismatch(f"its {where} is text of {len(value):,} characters, more than {MAX_TEXT:,}")
        return
    if not isinstance(value, (list, dict)):
        raise _Mismatch(f"its {where} is {_shown(value)}, not a JSON value")
    if depth >= MAX_NESTING:
        raise _Mismatch(f"its {where} nests lists and objects more than {MAX_NESTING} levels deep")
    if isinstance(value, list):
        for i, item in enumerate(value):
            check_json(item, f"{where}[{i}]", depth + 1)
        return
    for key, item in value.items():
        if not isinstance(key, str) or len(key) > MAX_TEXT:
            raise _Mismatch(f"its {where} has a key that is not short text")
        check_json(item, f"{where}[{key[:30]!r}]", depth + 1)


def check_value(value: Any, hint: Any, where: str, depth: int = 0) -> None:
    """Check ``value`` against a declared type: str, int, float, list[...], dict[str, ...], X | None, Any.

    Declared numbers (``float``) must be finite; ``int`` means a whole number.

    Raises:
        _Mismatch: the first place the value is not of its type, in words.
    """
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return
        kinds = [a for a in args if a is not type(None)]
        if len(kinds) != 1:
            raise TypeError(f"check_value cannot check the union {hint}")
        return check_value(value, kinds[0], where, depth)
    if hint is Any:
        return check_json(value, where, depth)
    if hint is str:
        if not isinstance(value, str):
            raise _Mismatch(f"its {where} is {_shown(value)}, not text")
        return check_json(value, where, depth)
    if hint is float:
        if not _is_number(value) or not math.isfinite(value):
            raise _Mismatch(f"its {where} is {_shown(value)}, not a finite number")
        return
    if hint is int:
        if not _is_number(value) or not isinstance(value, int):
            raise _Mismatch(f"its {where} is {_shown(value)}, not a whole number")
        return
    if hint is bool:
        if not isinstance(value, bool):
            raise _Mismatch(f"its {where} is {_shown(value)}, not true or false")
        return
    if depth >= MAX_NESTING:
        raise _Mismatch(f"its {where} nests lists and objects more than {MAX_NESTING} levels deep")
    if origin is list:
        if not isinstance(value, list):
            raise _Mismatch(f"its {where} is {_shown(value)}, not a list")
        for i, item in enumerate(value):
            check_value(item, args[0], f"{where}[{i}]", depth + 1)
        return
    if origin is dict:
        if not isinstance(value, dict):
            raise _Mismatch(f"its {where} is {_shown(value)}, not an object")
        for key, item in value.items():
            if not isinstance(key, str) or len(key) > MAX_TEXT:
                raise _Mismatch(f"its {where} has a key that is not short text")
            check_value(item, args[1], f"{where}[{key[:30]!r}]", depth + 1)
        return
    raise TypeError(f"check_value cannot check the declared type {hint}")


def meta_problem(meta: dict[str, Any]) -> str | None:
    """What is wrong with a result's ``meta`` (None when it is sane): names, times and counts."""
    for key in _META_NAMES:
        value = meta.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_NAME):
            return f"its meta {key} is {_shown(value)}, not a name of at most {MAX_NAME} characters"
    for key in _META_TIMES:
        value = meta.get(key)
        if value is not None and not (_is_number(value) and 0 <= value <= MAX_SECONDS):
            return f"its meta {key} is {_shown(value)}, not a number of seconds from 0 to {MAX_SECONDS:.0e}"
    for key in _META_COUNTS:
        value = meta.get(key)
        if value is not None and not (_is_number(value) and isinstance(value, int) and value >= 0):
            return f"its meta {key} is {_shown(value)}, not a count (a whole number, 0 or more)"
    return None


# --- writing JSON ----------------------------------------------------------------------------


def finite_json(value: Any) -> Any:
    """``value`` with every NaN or infinite float (nested in objects and lists too) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(item) for item in value]
    return value


def json_text(doc: Any, indent: int | None = None) -> str:
    """Valid JSON text of a document: non-finite numbers written as null (:func:`finite_json`), never NaN."""
    return json.dumps(finite_json(doc), indent=indent, ensure_ascii=False, allow_nan=False)
