"""Errors written for people: every message is one sentence that says what to fix."""


class WhyLMError(Exception):
    """An error with a message written for the user: one sentence that says what to fix."""


class SpecError(WhyLMError):
    """A run specification that cannot be run; ``field`` names the part to fix."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class ModelLoadError(WhyLMError):
    """A model name or folder that cannot be loaded as a causal language model."""


class Cancelled(WhyLMError):
    """The run was stopped by the user before it finished."""

    def __init__(self, message: str = "The run was stopped before it finished.") -> None:
        super().__init__(message)
