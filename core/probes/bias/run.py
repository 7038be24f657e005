"""The bias-association probe: one question asked across many substitutions.

A template's slot (or a pair such as name + pronoun) is swept over groups of
values; for every filled prompt the model scores each candidate continuation
(its log-probability summed over its tokens, and its probability renormalised
over the candidate set). Per candidate the groups are compared honestly:
means with bootstrap intervals, the gap between two groups with a permutation
test and an effect size, and the ratio of renormalised probabilities with a
bootstrap interval. Attribution then says which slot of the prompt carries
each gap: every swept value is replaced by the other group's values
(a counterfactual), the other slots by their baselines.

Spec and result formats: ``core.probes.bias.spec`` and ``BiasResult`` below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from core.attribution.features import apply_chat, chat_wrapping, encode_prompts, layout_from_template
from core.attribution.methods import METHODS
from core.attribution.perturbation import Poll, StopPoll, in_chunks, mask_codes, polled
from core.attribution.scorer import BatchedScorer, Progress, ShouldStop, scorer_for
from core.attribution.targets import encode_target
from core.errors import SpecError
from core.models.loading import LoadedModel, load_model
from core.probes.bias.reading import SHARE_NOTE, quoted, reading_lines, score_words
from core.probes.bias.shares import estimated, share_intervals
from core.probes.bias.spec import BiasSpec, SweepPrompt, parse_bias_spec, plural, sweep_prompts
from core.probes.bias.stats import (
    bootstrap_mean_ci,
    bootstrap_two_sample,
    cohens_d,
    holm,
    log_ratio_of_means,
    mean_diff,
    permutation_test,
)
from core.result_json import JsonResult
from core.runs.meta import RunClock, run_meta

__all__ = ["BiasResult", "parse_bias_spec", "run_bias", "score_sweep"]


@dataclass
class BiasResult(JsonResult):
    """The result of a bias probe (``JsonResult`` gives ``kind``, ``format`` and the JSON round trip).

    Attributes:
        kind: "bias".
        format: the document's format (``core.result_json.RESULT_FORMAT``).
        spec: the spec document as run (defaults filled in; see :func:`core.probes.bias.spec.bias_spec_document`).
        groups: per group: name, number of values (units) and of prompts.
        compare: the two compared groups; gaps are the first minus the second.
        score: the compared score ("log_prob" or "renorm_log_prob").
        prompts: every filled prompt: group, unit, slot values and user text.
        candidates: ranked by the size of the gap; each has text, groups
            (name -> n, mean, ci, sd, prob, prob_ci), gap, gap_ci, p_value,
            p_holm, effect_size, prob_ratio, prob_ratio_ci, prob_ratio_p,
            log_probs and renorm_probs (one per prompt, in ``prompts`` order)
            and attribution (features' share of the gap, or None).
        attribution: the attribution settings used and the feature labels (or None).
        summary: plain-words sentences.
        meta: model name and revision, forward passes, seconds, ...
    """

    result_kind: ClassVar[str] = "bias"
    document_name: ClassVar[str] = "WhyLM bias result"

    spec: dict[str, Any]
    groups: list[dict[str, Any]]
    compare: list[str]
    score: str
    prompts: list[dict[str, Any]]
    candidates: list[dict[str, Any]]
    attribution: dict[str, Any] | None
    summary: list[str]
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def upgrade(cls, doc: dict[str, Any], version: int) -> dict[str, Any]:
        """An older bias result in the current format.

        Before format 1 a bias result kept the spec document as given (a saved run from
        WhyLM before its code was regrouped); its ``spec`` becomes the spec as run, with
        defaults filled in. A spec that no longer validates is kept as it was.
        """
        if version < 1 and isinstance(doc.get("spec"), dict):
            try:
                doc["spec"] = cls.spec_document(doc["spec"])
            except SpecError:
                pass
        return doc

    @classmethod
    def spec_document(cls, doc: Any) -> dict[str, Any]:
        """The bias spec as the probe runs it (``parse_bias_spec(doc).raw``); ``SpecError`` if it cannot run."""
        return parse_bias_spec(doc).raw

    def check(self) -> None:
        """Refuse a result whose two compared groups are not among its groups, or a candidate without text."""
        names = [g.get("name") for g in self.groups]
        if len(self.compare) != 2 or any(name not in names for name in self.compare):
            raise self.refuse("its compare does not name two of its groups")
        for i, entry in enumerate(self.candidates):
            if not isinstance(entry.get("text"), str):
                raise self.refuse(f"its candidates[{i}] has no text")

    def candidate(self, text: str) -> dict[str, Any]:
        """The entry of one candidate by its text."""
        for entry in self.candidates:
            if entry["text"] == text:
                return entry
        raise KeyError(text)


# ---------------------------------------------------------------- scoring


def _num(x: Any) -> float | None:
    """A finite float, or None (JSON has no NaN)."""
    x = float(x)
    return x if np.isfinite(x) else None


def _pair(row: np.ndarray) -> list[float | None]:
    return [_num(row[0]), _num(row[1])]


def score_sweep(
    lm: LoadedModel,
    texts: list[str],
    candidates: list[str],
    chat: bool,
    scorer: BatchedScorer,
    poll: Poll | None = None,
) -> np.ndarray:
    """Summed log-probability of each candidate after each full prompt text (texts x candidates).

    One ``log_probs`` call for every (prompt, candidate) row; the scorer shares
    each prompt's key/value cache across its candidates. ``poll`` hears Stop while
    the prompts are encoded.
    """
    prompt_ids = in_chunks(lambda part: encode_prompts(lm.tokenizer, part, chat), texts, poll or StopPoll(None))
    cand_ids = [encode_target(lm.tokenizer, c, "candidates") for c in candidates]
    for ids in prompt_ids:
        if not ids:
            raise SpecError(
                "attribution.baselines",
                "removing these slots leaves an empty prompt; keep some context text or give "
                "replacement baselines.",
            )
    longest = max(len(p) for p in prompt_ids) + max(len(c) for c in cand_ids)
    if longest > lm.max_context:
        raise SpecError(
            "template",
            f"the longest prompt and candidate are {longest} tokens, more than this model's "
            f"context of {lm.max_context}; shorten them.",
        )
    return scorer.summed_log_probs(prompt_ids, cand_ids)


def renormalise(logp: np.ndarray) -> np.ndarray:
    """Log-probabilities renormalised over the candidates (axis 1): log p_c / sum p."""
    top = logp.max(axis=1, keepdims=True)
    lse = top + np.log(np.exp(logp - top).sum(axis=1, keepdims=True))
    return logp - lse


def _scores(logp: np.ndarray, score: str) -> np.ndarray:
    return logp if score == "log_prob" else renormalise(logp)


# ---------------------------------------------------------------- attribution


@dataclass
class _AttrJob:
    prompt: int
    sign: int  # +1 for the first compared group, -1 for the second
    plan: Any
    rows: np.ndarray


def _plan_attribution(
    spec: BiasSpec, prompts: list[SweepPrompt], tokenizer: Any, texts: dict[str, int], poll: Poll
) -> tuple[list[_AttrJob], list[str], list[int]]:
    """Choose prompts, lay them out with counterfactual baselines, and plan the coalitions.

    The parser has held the plan to ``plan_problem``'s limits; ``poll`` hears Stop while it is made.
    """
    settings = spec.attribution
    rng = np.random.default_rng([spec.seed, 3])
    first, second = spec.compare
    per_group = {first: (settings.prompts + 1) // 2, second: max(1, settings.prompts // 2)}
    chosen: list[int] = []
    for group in (first, second):
        pool = [i for i, p in enumerate(prompts) if p.group == group]
        k = min(per_group[group], len(pool))
        chosen.extend(sorted(int(i) for i in rng.choice(pool, size=k, replace=False)))
    planner = METHODS[settings.method].plan
    index = {s: j for j, s in enumerate(spec.sweep_slots)}
    jobs: list[_AttrJob] = []
    labels: list[str] = []
    for i in chosen:
        prompt = prompts[i]
        other = spec.groups[second if prompt.group == first else first]
        baselines: dict[str, Any] = dict(settings.baselines)
        for slot, j in index.items():
            baselines[slot] = [entry[j] for entry in other]
        try:
            layout = layout_from_template(spec.prompt_template, prompt.values, baselines, settings.groups or None)
        except SpecError as exc:
            raise SpecError("attribution", exc.sentence) from None
        if spec.chat:
            apply_chat(layout, tokenizer)
        labels = layout.labels
        n = len(layout.features)
        # Each trial swaps in a different value of the other group (all of them when
        # trials >= its size), so the counterfactuals cover the other group evenly.
        order = rng.permutation(len(other))
        for t in range(min(settings.trials, len(other))):
            chosen_baselines = {
                sid: (
                    slot.baseline[int(rng.integers(len(slot.baseline)))]
                    if isinstance(slot.baseline, list)
                    else slot.baseline
                )
                for sid, slot in layout.slots.items()
            }
            for slot, j in index.items():
                chosen_baselines[slot] = other[order[t]][j]
            plan = planner(n, settings.params, rng, poll=poll)
            codes = mask_codes(plan.masks)
            _, first_idx, inverse = np.unique(codes, return_index=True, return_inverse=True)
            rows = []
            for m in polled(first_idx, poll):
                text = layout.full_prompt(layout.render(plan.masks[m], chosen_baselines))
                rows.append(texts.setdefault(text, len(texts)))
            sign = 1 if prompt.group == first else -1
            jobs.append(_AttrJob(i, sign, plan, np.array(rows)[inverse.reshape(-1)]))
    return jobs, labels, chosen


def _combine_attribution(
    spec: BiasSpec, jobs: list[_AttrJob], values: np.ndarray, n_features: int
) -> dict[str, np.ndarray]:
    """Per compared group, the mean attribution (candidates x features); and the gap share.

    For a prompt of the first group, replacing its name by a second-group name
    moves the score by (about) the gap; for a second-group prompt by minus the
    gap. Half the difference of the two groups' means estimates each feature's
    share of the gap (first minus second).
    """
    combiner = METHODS[spec.attribution.method].combine
    sums: dict[int, np.ndarray] = {}
    counts: dict[int, int] = {}
    signs: dict[int, int] = {}
    for job in jobs:
        attr = combiner(job.plan, values[job.rows], spec.attribution.params)
        sums[job.prompt] = sums.get(job.prompt, 0) + attr
        counts[job.prompt] = counts.get(job.prompt, 0) + 1
        signs[job.prompt] = job.sign
    per_prompt = {i: sums[i] / counts[i] for i in sums}
    out: dict[str, np.ndarray] = {}
    by_sign: dict[int, list[np.ndarray]] = {}
    for sign, group in ((1, spec.compare[0]), (-1, spec.compare[1])):
        mats = [per_prompt[i] for i in per_prompt if signs[i] == sign]
        by_sign[sign] = mats
        if mats:
            out[group] = np.mean(mats, axis=0)
    if len(out) == 2:
        out["gap"] = 0.5 * (out[spec.compare[0]] - out[spec.compare[1]])
        # each share's interval over the attributed prompts (core.probes.bias.shares), its own random stream
        rng = np.random.default_rng([spec.seed, 4])
        out.update(share_intervals(by_sign[1], by_sign[-1], spec.bootstrap, rng, spec.level))
    return out


# ---------------------------------------------------------------- statistics


def _unit_matrix(per_prompt: np.ndarray, prompts: list[SweepPrompt], n_units: int) -> np.ndarray:
    """Mean over each unit's prompts (the vary combinations): units x candidates."""
    out = np.zeros((n_units, per_prompt.shape[1]))
    count = np.zeros(n_units)
    for i, p in enumerate(prompts):
        out[p.unit] += per_prompt[i]
        count[p.unit] += 1
    return out / count[:, None]


def _compare(
    spec: BiasSpec, prompts: list[SweepPrompt], logp: np.ndarray, poll: Poll | None = None
) -> list[dict[str, Any]]:
    """Per candidate statistics (in spec order); ``poll`` hears Stop between chunks of resamples."""
    poll = poll or StopPoll(None)
    n_units = 1 + max(p.unit for p in prompts)
    unit_group = ["" for _ in range(n_units)]
    for p in prompts:
        unit_group[p.unit] = p.group
    unit_group_arr = np.array(unit_group)
    renorm = renormalise(logp)
    score_u = _unit_matrix(_scores(logp, spec.score), prompts, n_units)
    prob_u = _unit_matrix(np.exp(renorm), prompts, n_units)
    boot = np.random.default_rng([spec.seed, 1])
    perm = np.random.default_rng([spec.seed, 2])
    level = spec.level
    stats: dict[str, dict[str, np.ndarray]] = {}
    for group in spec.groups:
        rows = unit_group_arr == group
        s, p = score_u[rows], prob_u[rows]
        stats[group] = {
            "n": np.full(s.shape[1], rows.sum()),
            "mean": s.mean(axis=0),
            "sd": s.std(axis=0, ddof=1),
            "ci": bootstrap_mean_ci(s, spec.bootstrap, boot, level, poll),
            "prob": p.mean(axis=0),
            "prob_ci": bootstrap_mean_ci(p, spec.bootstrap, boot, level, poll),
        }
    a, b = spec.compare
    ra, rb = unit_group_arr == a, unit_group_arr == b
    gap_ci = bootstrap_two_sample(score_u[ra], score_u[rb], mean_diff, spec.bootstrap, boot, level, poll)
    ratio_ci = np.exp(
        bootstrap_two_sample(prob_u[ra], prob_u[rb], log_ratio_of_means, spec.bootstrap, boot, level, poll)
    )
    gap, p_gap = permutation_test(score_u[ra], score_u[rb], mean_diff, spec.permutations, perm, poll)
    log_ratio, p_ratio = permutation_test(
        prob_u[ra], prob_u[rb], log_ratio_of_means, spec.permutations, perm, poll
    )
    d = cohens_d(score_u[ra], score_u[rb])
    p_holm = holm(np.nan_to_num(p_gap, nan=1.0))
    out = []
    for c, text in enumerate(spec.candidates):
        groups = {
            g: {
                "n": int(st["n"][c]),
                "mean": _num(st["mean"][c]),
                "ci": _pair(st["ci"][:, c]),
                "sd": _num(st["sd"][c]),
                "prob": _num(st["prob"][c]),
                "prob_ci": _pair(st["prob_ci"][:, c]),
            }
            for g, st in stats.items()
        }
        out.append(
            {
                "text": text,
                "index": c,
                "groups": groups,
                "gap": _num(gap[c]),
                "gap_ci": _pair(gap_ci[:, c]),
                "p_value": _num(p_gap[c]),
                "p_holm": _num(p_holm[c]),
                "effect_size": _num(d[c]),
                "prob_ratio": _num(np.exp(log_ratio[c])),
                "prob_ratio_ci": _pair(ratio_ci[:, c]),
                "prob_ratio_p": _num(p_ratio[c]),
                "log_probs": [float(x) for x in logp[:, c]],
                "renorm_probs": [float(x) for x in np.exp(renorm[:, c])],
                "attribution": None,
            }
        )
    return out


# ---------------------------------------------------------------- summary


def _summary(
    spec: BiasSpec, ranked: list[dict[str, Any]], labels: list[str] | None, top: int = 5
) -> list[str]:
    """The result's plain-words summary: ``core.probes.bias.reading``'s lines, the small-sample warning, slot shares."""
    a, b = spec.compare
    n_a, n_b = len(spec.groups[a]), len(spec.groups[b])
    noun = plural(spec.sweep_slots[0])
    groups = [{"name": g, "n_values": len(v)} for g, v in spec.groups.items()]  # the design (reading.power)
    doc = {"compare": [a, b], "score": spec.score, "spec": spec.raw, "groups": groups, "candidates": ranked}
    lines = reading_lines(doc, top)
    if min(n_a, n_b) < 10:
        lines.insert(
            1,
            f"With fewer than 10 {noun} per group the bootstrap intervals run too narrow and the "
            "p-values are coarse; add values before drawing conclusions.",
        )
    what = score_words(doc)
    wider = False
    for entry in ranked[:top]:
        attr = entry.get("attribution")
        if attr and "gap" in attr and labels and entry["gap"] is not None and estimated(entry):
            shares = ", ".join(f"{lab} {v:+.2f}" for lab, v in zip(labels, attr["gap"]))
            wider = wider or any(abs(v) > abs(entry["gap"]) for v in attr["gap"])
            lines.append(
                f"Of the {entry['gap']:+.2f} gap in {what} for {quoted(entry['text'])} ({a} minus {b}), "
                f"swapping in the other group's values attributes: {shares}."
            )
    if wider:
        lines.append(SHARE_NOTE)
    return lines


# ---------------------------------------------------------------- run


def run_bias(
    spec_doc: dict[str, Any] | BiasSpec,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    lm: LoadedModel | None = None,
    loader: Any = load_model,
) -> BiasResult:
    """Run a bias probe spec and return its result.

    Args:
        spec_doc: the spec document (see ``core.probes.bias.spec``).
        progress: called with (scored rows done, total) after each batch.
        should_stop: polled between batches; True stops the run (``Cancelled``).
        lm: an already loaded model (otherwise loaded by name).
        loader: loads a model by name when ``lm`` is None.
    """
    clock = RunClock()
    spec = spec_doc if isinstance(spec_doc, BiasSpec) else parse_bias_spec(spec_doc)
    lm = clock.load(spec.model, lm, loader)
    prompts = sweep_prompts(spec)
    poll = StopPoll(should_stop)  # planning and statistics hear Stop, not only the scorer
    with lm.lock.job():  # the model is taken batch by batch (core.models.sharing)
        chat_prefix, chat_suffix = chat_wrapping(lm.tokenizer) if spec.chat else ("", "")
        texts: dict[str, int] = {}
        sweep_rows = [texts.setdefault(f"{chat_prefix}{p.text}{chat_suffix}", len(texts)) for p in prompts]
        jobs: list[_AttrJob] = []
        labels: list[str] = []
        chosen: list[int] = []
        if spec.attribution.enabled:
            jobs, labels, chosen = _plan_attribution(spec, prompts, lm.tokenizer, texts, poll)
        scorer = scorer_for(lm, progress=progress, should_stop=should_stop)
        logp_all = score_sweep(lm, list(texts), spec.scored_candidates(), spec.chat, scorer, poll)
    logp = logp_all[sweep_rows]
    entries = _compare(spec, prompts, logp, poll)
    attribution = None
    if jobs:
        attr = _combine_attribution(spec, jobs, _scores(logp_all, spec.score), len(labels))
        for c, entry in enumerate(entries):
            entry["attribution"] = {k: [float(x) for x in v[c]] for k, v in attr.items()}
        attribution = {
            "method": spec.attribution.method,
            "trials": spec.attribution.trials,
            "params": spec.attribution.params,
            "features": labels,
            "prompts": chosen,
            "baseline": "the other compared group's values for swept slots; "
            + ("the given baselines" if spec.attribution.baselines else "removal")
            + " for the other slots",
        }
    ranked = sorted(entries, key=lambda e: -abs(e["gap"]) if e["gap"] is not None else np.inf)
    for rank, entry in enumerate(ranked, start=1):
        entry["rank"] = rank
    result = BiasResult(
        kind="bias",
        spec=spec.raw,
        groups=[
            {
                "name": g,
                "n_values": len(v),
                "n_prompts": sum(1 for p in prompts if p.group == g),
            }
            for g, v in spec.groups.items()
        ],
        compare=list(spec.compare),
        score=spec.score,
        prompts=[{"group": p.group, "unit": p.unit, "values": p.values, "text": p.text} for p in prompts],
        candidates=ranked,
        attribution=attribution,
        summary=_summary(spec, ranked, labels or None),
        meta=run_meta(
            lm,
            spec.model,
            "bias",
            clock,
            n_prompts=len(prompts),
            n_candidates=len(spec.candidates),
            distinct_prompts=len(texts),
            forward_passes=scorer.forward_passes,
            model_calls=scorer.model_calls,
        ),
    )
    return result
