"""The one interface the engine sees of a model, wherever it runs: ``Backend``.

Two backends implement it: a model loaded here (``core.models.loading.LoadedModel``) and a
model served behind an OpenAI-compatible endpoint (``core.models.remote.RemoteModel``). The
engine (``core.attribution``) asks a backend what it can do (:class:`Capabilities`) and, for a
served one, for its own scorer; it never tests a model's class or probes its attributes. A
third backend (another served protocol, say) is one module with a class that has these
members and returns its scorer from ``own_scorer``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do.

    Attributes:
        gradients: its weights are here, so gradient methods can run (and it generates here).
        served: it is reached through a server (its scorer sends requests; it generates there).
    """

    gradients: bool
    served: bool


class Scorer(Protocol):
    """Scores target tokens after prompts: the engine's only use of a model's forward pass."""

    def log_probs(self, rows: Sequence[tuple[Sequence[int], Sequence[int]]]) -> list[Any]:
        """Log-probabilities of each row's target tokens after its prompt (rows of (prompt ids, target ids))."""
        ...

    def summed_log_probs(self, prompt_ids: Sequence[Sequence[int]], target_ids: Sequence[Sequence[int]]) -> Any:
        """Each target's summed log-probability after each prompt (prompts x targets)."""
        ...


@runtime_checkable
class Backend(Protocol):
    """A model the engine can run on.

    Attributes:
        name: the name the spec gave ("default", a hub id, a folder, a served model's name).
        display_name: the model in words.
        revision: where the weights came from (package version, hub commit, folder, "served").
        tokenizer: its tokenizer, loaded here.
        device: where tensors for it are built.
        dtype_name: the precision it computes in ("float32", "bfloat16", "served", ...).
        endpoint: a served model's server address (None for a model loaded here).
        lock: shares the model among runs batch by batch (``core.models.sharing.ModelShare``).
    """

    name: str
    display_name: str
    revision: str
    tokenizer: Any
    dtype_name: str
    endpoint: str | None

    @property
    def capabilities(self) -> Capabilities:
        """What this backend can do."""
        ...

    def own_scorer(
        self, progress: Callable[[int, int], None] | None, should_stop: Callable[[], bool] | None
    ) -> Scorer | None:
        """Its own scorer (a served model's requests), or None to be scored by the engine's batched scorer."""
        ...
