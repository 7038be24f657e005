"""Errors written for people: every message is one sentence that says what to fix.

Each error keeps its parts as fields: ``sentence`` is the message alone (what to fix), and a
``SpecError`` also has ``field`` (the part of the spec it is about). Code that re-words an
error for another place reads these fields; nothing splits ``str(exc)``.
"""


class WhyLMError(Exception):
    """An error with a message written for the user: one sentence that says what to fix.

    Attributes:
        sentence: the message, without any prefix naming where it came from.
    """

    def __init__(self, sentence: str = "") -> None:
        self.sentence = sentence
        super().__init__(sentence)


class SpecError(WhyLMError):
    """A run specification that cannot be run.

    Attributes:
        field: the part of the spec to fix ("" for the whole spec).
        sentence: what is wrong with it, without the field's name.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.args = (f"{field}: {message}" if field else message,)


class ModelLoadError(WhyLMError):
    """A model name or folder that cannot be loaded as a causal language model."""


class Cancelled(WhyLMError):
    """The run was stopped by the user before it finished."""

    def __init__(self, message: str = "The run was stopped before it finished.") -> None:
        super().__init__(message)

