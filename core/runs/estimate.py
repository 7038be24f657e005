"""How long a run will take on this machine: the estimate every form shows before Run.

A run's *work* is counted from its spec alone, in tokens through the model
(:func:`run_work`): the prompts a method or probe scores (``plan_rows``,
``bias_cost``, ``few_shot_cost``, the gradient points) times their length in
tokens (characters / 4 before a tokenizer is at hand). Its *speed* is measured on this machine
and model, in seconds per token of work, from

1. runs this process finished (``core.engine.run`` calls :func:`record_run`): the
   median of the latest runs of the same family on the same model, else
2. a calibration (:func:`calibrate`: a few rows scored, about a second, done by
   the dashboard's warm-up and the preset benchmark) times the family's
   factor (:data:`FAMILY_FACTORS`, measured with ``bench/bench_presets.py``), times
   how much slower than so predicted the latest runs of other families were, else
3. a first guess (:data:`GUESS_SECONDS_PER_TOKEN`, the bundled model on two CPU cores),
   which the sentence says is one.

:func:`estimate` gives an :class:`Estimate`; its :meth:`Estimate.words` is the sentence
the forms show ("about 12 s on this machine").
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from core.errors import WhyLMError
from core.kinds import parse, parsed_kind
from core.runs.work import MODEL_CALL_TOKENS, TOKENIZERS, model_key

FAMILY_FACTORS = {"perturbation": 1.2, "gradient": 0.6, "bias": 0.6, "few_shot": 1.5, "study": 1.5, "documents": 1.0}
"""A run's seconds per token of work over the calibration's, per family, as ``bench/bench_presets.py``
measured them on two idle CPU cores (2026-12-07, calibration 0.77 ms per token; each preset's measured over
calibration in wall time): perturbation 0.86 to 1.66 (six presets and a 3,000-word prompt), gradient 0.57 to
0.68, bias 0.54 and 0.68, few-shot 1.17 to 1.86; later that day, load 1.6: bias studies 2.06 (the 40 example
pairs: a second of analysis beside little model work) and 1.23 (the 40 example questions), documents 0.74 (the
worked example). Each factor sits in the middle of its family's range, so every preset's estimate is within 2x. A busier machine moves them (finished runs correct them). A family not
measured here (a newly registered kind's) counts 1.0 until its finished runs correct it."""
GUESS_SECONDS_PER_TOKEN = 1e-3
"""The guess before a calibration: the bundled model on two CPU cores. Calibrations there measure 0.77 ms per
token (2026-12-07; 4.2 with the torch of a week before), and the family factors make it 0.46 to 1.16 ms per token
of work, so 1 ms is within 2x of every family on an idle machine. (It was 4 ms: the 120-sentence document's
estimate said 8 minutes beside a run of 2.5.) The warm-up's calibration replaces it seconds after the model loads."""
KEPT_RUNS = 8
"""Latest runs per family and model whose speed is kept (their median is used)."""


@dataclass(frozen=True)
class Work:
    """A run's work in tokens through the model, per family (a compare run has two)."""

    tokens: dict[str, float]

    @property
    def total(self) -> float:
        """Tokens of work over all families."""
        return sum(self.tokens.values())


@dataclass(frozen=True)
class Estimate:
    """A run's estimated time and what it rests on.

    Attributes:
        seconds: estimated seconds for the run (model loading apart).
        basis: "runs" (measured from finished runs), "calibration" or "guess".
        runs: how many finished runs the speed comes from (0 unless basis is "runs").
    """

    seconds: float
    basis: str
    runs: int = 0

    def words(self) -> str:
        """The sentence a form shows before Run: "Estimated time: about 12 s on this machine ..."."""
        when = format_seconds(self.seconds) if self.seconds < 1 else f"about {format_seconds(self.seconds)}"
        if self.basis == "runs":
            said = "run" if self.runs == 1 else f"{self.runs} runs"
            return f"Estimated time: {when} on this machine (from the speed of the last {said} like it)."
        if self.basis == "calibration":
            return f"Estimated time: {when} on this machine (from its measured speed with this model)."
        return f"Estimated time: {when} (a first guess; this machine's speed is measured once the model has loaded)."


def format_seconds(seconds: float) -> str:
    """Seconds in words a reader takes in at a glance: "under 1 s", "12 s", "2 min 05 s"."""
    if seconds < 1:
        return "under 1 s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes >= 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes} min {rest:02d} s"


# ---------------------------------------------------------------- work, from the spec


def run_work(spec_doc: Any) -> Work | None:
    """The work of a spec, in tokens through the model per family (its kind's count, ``RunKind.work``);
    None when the spec cannot run as it is."""
    try:
        parsed = parse(spec_doc)
    except (WhyLMError, ValueError, TypeError, KeyError):
        return None
    return Work(parsed_kind(parsed).work(parsed))


# ---------------------------------------------------------------- speed, measured here


class SpeedLog:
    """Seconds per token of work measured in this process, per model (and family for finished runs)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[tuple[str, str], deque[float]] = {}
        self._calibration: dict[str, float] = {}

    def add_run(self, model: str, family: str, seconds_per_token: float) -> None:
        """Keep a finished run's speed (the latest :data:`KEPT_RUNS` per model and family)."""
        with self._lock:
            self._runs.setdefault((model, family), deque(maxlen=KEPT_RUNS)).append(seconds_per_token)

    def set_calibration(self, model: str, seconds_per_token: float) -> None:
        """Keep the calibration's speed for a model."""
        with self._lock:
            self._calibration[model] = seconds_per_token

    def runs(self, model: str, family: str) -> list[float]:
        """Speeds of the kept runs of this model and family."""
        with self._lock:
            return list(self._runs.get((model, family), ()))

    def slowdown(self, model: str) -> float:
        """How much slower than the calibration predicted the latest runs of this model were (any family; 1.0 when none).

        The median, over the kept runs, of each run's speed over its family's predicted one
        (calibration x :data:`FAMILY_FACTORS`): a machine busier now than at its calibration
        shows in every family's estimate, not only in the families already run.
        """
        with self._lock:
            calibration = self._calibration.get(model)
            if not calibration:
                return 1.0
            ratios = [
                speed / (calibration * FAMILY_FACTORS.get(family, 1.0))
                for (key, family), kept in self._runs.items()
                if key == model
                for speed in kept
            ]
        return statistics.median(ratios) if ratios else 1.0

    def calibration(self, model: str) -> float | None:
        """The calibration's seconds per token for this model, or None."""
        with self._lock:
            return self._calibration.get(model)

    def clear(self) -> None:
        """Forget every speed (for tests)."""
        with self._lock:
            self._runs.clear()
            self._calibration.clear()


SPEEDS = SpeedLog()
"""This process's measured speeds."""


def record_run(spec_doc: Any, seconds: float, speeds: SpeedLog = SPEEDS) -> None:
    """Keep a finished run's speed (its seconds over its work), per family of its work.

    A compare run with methods of both families gives each family its overall speed.
    """
    work = run_work(spec_doc)
    if work is None or work.total <= 0 or seconds <= 0:
        return
    key = model_key(spec_doc.get("model") if isinstance(spec_doc, dict) else getattr(spec_doc, "model", None))
    for family, tokens in work.tokens.items():
        if tokens > 0:
            speeds.add_run(key, family, seconds / work.total)


def calibrate(
    lm: Any,
    model: Any = "default",
    speeds: SpeedLog = SPEEDS,
    rows: int = 8,
    length: int = 48,
    repeats: int = 3,
) -> float:
    """Measure this machine's speed with a loaded model: score ``rows`` rows of ``length`` tokens.

    The rows are distinct (no prefix to share); after one warm-up call they are scored
    ``repeats`` times and the fastest counts (a busy machine only ever slows a timing down).
    Returns (and keeps under ``model``) the seconds per token.
    """
    from core.attribution.scorer import BatchedScorer

    vocab = max(int(getattr(lm.tokenizer, "vocab_size", 1000) or 1000), 1000)
    scored = [
        ([(7919 * (r + 1) * (t + 3)) % (vocab - 100) + 50 for t in range(length)], [100 + r])
        for r in range(rows)
    ]
    BatchedScorer(lm).log_probs(scored[:2])
    fastest = math.inf
    for _ in range(repeats):
        began = time.perf_counter()
        BatchedScorer(lm).log_probs(scored)
        fastest = min(fastest, time.perf_counter() - began)
    per_token = fastest / (rows * (length + 1) + MODEL_CALL_TOKENS)
    speeds.set_calibration(model_key(model), per_token)
    TOKENIZERS[model_key(model)] = lm.tokenizer
    return per_token


def estimate(spec_doc: Any, speeds: SpeedLog = SPEEDS) -> Estimate | None:
    """How long ``spec_doc`` will take on this machine; None when the spec cannot run as it is."""
    work = run_work(spec_doc)
    if work is None:
        return None
    key = model_key(spec_doc.get("model") if isinstance(spec_doc, dict) else None)
    calibration = speeds.calibration(key)
    seconds, counted, bases = 0.0, 0, set()
    for family, tokens in work.tokens.items():
        measured = speeds.runs(key, family)
        if measured:
            seconds += tokens * statistics.median(measured)
            counted = max(counted, len(measured))
            bases.add("runs")
        elif calibration is not None:
            seconds += tokens * calibration * FAMILY_FACTORS.get(family, 1.0) * speeds.slowdown(key)
            bases.add("calibration")
        else:
            seconds += tokens * GUESS_SECONDS_PER_TOKEN * FAMILY_FACTORS.get(family, 1.0)
            bases.add("guess")
    basis = "guess" if "guess" in bases else "calibration" if "calibration" in bases else "runs"
    return Estimate(seconds=seconds, basis=basis, runs=counted if basis == "runs" else 0)
