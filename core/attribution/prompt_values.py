"""The run's score of prompt texts, each distinct text scored once: the perturbation methods' memo.

:class:`PromptValues` turns prompt texts into score rows (column 0 the sequence
score, then one column per output token; ``core.attribution.targets.score_matrix``)
through one :class:`BatchedScorer`, and keeps every row it has scored. A method's
plan, the faithfulness curves and several methods compared on one prompt all ask
it, so a prompt two of them need is scored once. :class:`LayoutCoalitions` asks it
for coalitions of a prompt layout's features (the ``Coalitions`` of
``core.attribution.faithfulness``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.attribution.features import PromptLayout, encode_prompts
from core.attribution.perturbation import Poll, in_chunks
from core.attribution.scorer import Progress, ShouldStop, scorer_for
from core.attribution.targets import TargetPlan, score_matrix
from core.models.loading import LoadedModel


def start_token_id(tokenizer: Any) -> int:
    """The token a model reads before an empty prompt: BOS, else end-of-text, else 0."""
    for token_id in (tokenizer.bos_token_id, tokenizer.eos_token_id):
        if token_id is not None:
            return int(token_id)
    return 0


class PromptValues:
    """Score rows of prompt texts toward one target, each distinct text scored once.

    Args:
        lm: the loaded model.
        chat: whether the texts are chat-wrapped (encoded without special tokens).
        target: the resolved target (and contrast).
        score: "log_prob" or "prob".
        progress / should_stop: passed to the batched scorer.
    """

    def __init__(
        self,
        lm: LoadedModel,
        chat: bool,
        target: TargetPlan,
        score: str,
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
    ) -> None:
        self.lm = lm
        self.chat = chat
        self.target = target
        self.score = score
        self.scorer = scorer_for(lm, progress=progress, should_stop=should_stop)
        self.index: dict[str, int] = {}
        self.rows = np.zeros((0, 1 + target.n_outputs))
        self.forward_passes = 0
        self.empty_prompts = 0

    def __contains__(self, text: str) -> bool:
        """Whether ``text`` has been scored."""
        return text in self.index

    @property
    def model_calls(self) -> int:
        """Model calls made so far (batches of the prefix tree)."""
        return self.scorer.model_calls

    @property
    def tokens(self) -> tuple[int, int]:
        """Tokens run through the model so far, and the tokens the same rows take scored each whole."""
        return self.scorer.tokens_processed, getattr(self.scorer, "tokens_whole", self.scorer.tokens_processed)

    def values(self, texts: list[str], poll: Poll) -> np.ndarray:
        """Score rows (texts x outputs) of ``texts``, scoring the distinct unscored ones in one call."""
        todo = list(dict.fromkeys(t for t in texts if t not in self.index))
        if todo:
            self._score(todo, poll)
        return self.rows[[self.index[t] for t in texts]]

    def _score(self, texts: list[str], poll: Poll) -> None:
        tokenizer = self.lm.tokenizer
        prompt_ids = in_chunks(lambda part: encode_prompts(tokenizer, part, self.chat), texts, poll)
        for ids in prompt_ids:
            if not ids:
                # Every feature removed and no context left: the model starts from its
                # start-of-text token, as it would for an empty prompt.
                ids.append(start_token_id(tokenizer))
                self.empty_prompts += 1
        target = self.target
        rows_a = [(ids, target.ids) for ids in prompt_ids]
        rows_b = [(ids, target.contrast_ids) for ids in prompt_ids] if target.contrast_ids else []
        logp = self.scorer.log_probs(rows_a + rows_b)
        new = score_matrix(logp[: len(rows_a)], logp[len(rows_a) :] if rows_b else None, self.score)
        start = len(self.rows)
        self.rows = np.vstack([self.rows, new])
        for i, text in enumerate(texts):
            self.index[text] = start + i
        self.forward_passes += len(rows_a) + len(rows_b)


class LayoutCoalitions:
    """Coalitions of a layout's features, filled with fixed baselines, scored through ``PromptValues``."""

    def __init__(self, values: PromptValues, layout: PromptLayout, baselines: dict[str, str], poll: Poll) -> None:
        self.prompt_values = values
        self.layout = layout
        self.baselines = baselines
        self.poll = poll

    def texts(self, masks: np.ndarray) -> list[str]:
        """The prompt text of each mask."""
        layout = self.layout
        return [layout.full_prompt(layout.render(mask, self.baselines)) for mask in masks]

    def scored(self, masks: np.ndarray) -> np.ndarray:
        """For each mask, whether its prompt has been scored."""
        return np.array([t in self.prompt_values for t in self.texts(masks)], dtype=bool)

    def values(self, masks: np.ndarray) -> np.ndarray:
        """Score rows of the masks (new prompts scored in one call)."""
        return self.prompt_values.values(self.texts(masks), self.poll)
