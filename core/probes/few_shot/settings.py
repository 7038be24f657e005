"""The few-shot probe's settings, declared once; the exact-or-sampling rule; what a run costs.

Each setting is a :class:`~core.attribution.methods.Param`: the few-shot form
draws its widget from the declaration (label, help, default, bounds) and
``parse_few_shot_spec`` validates the spec against the same declaration.
:func:`uses_exact` decides between exact Shapley values and Shapley sampling
(the form says which before a run, the runner follows it), and
:func:`few_shot_cost` counts what a run scores, and :func:`cost_problem` refuses a run
above :data:`MAX_SCORES` or the planning memory budget (``core.attribution.perturbation``).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.attribution.methods import Param
from core.attribution.perturbation import PLAN_MEMORY_BUDGET, plan_memory

EXACT_LIMIT = 14  # 2^14 prompts per query is the most exact Shapley is allowed to ask for
MAX_SCORES = 200_000  # prompts x labels one run may score

CHAT = Param(
    "chat",
    "bool",
    False,
    "Chat mode: send the whole prompt as a chat message",
    "For instruction-tuned models: the prompt becomes the user's message and the label the start of "
    "the assistant's answer. Usually off for plain few-shot prompts.",
)
INSTRUCTION_AS_FEATURE = Param(
    "include_instruction_as_feature",
    "bool",
    False,
    "Also measure the instruction (as one more feature)",
    "The instruction is then left out and put back like an example, and gets its own value.",
)
METHOD = Param(
    "method",
    "choice",
    "auto",
    "How the Shapley values are computed",
    "Exact values try every subset of the examples (2 to the power of their number); sampling "
    "estimates them from random orders, which is much cheaper for many examples.",
    choices=("auto", "exact", "sampling"),
    choice_labels=(
        "Automatic: exact up to the limit below, sampling above",
        "Exact Shapley values",
        "Shapley sampling (an estimate)",
    ),
)
MAX_EXACT = Param(
    "max_exact",
    "int",
    10,
    "Exact up to (features)",
    "With the automatic method, more features than this switch to sampling.",
    1,
    EXACT_LIMIT,
)
N_SAMPLES = Param(
    "n_samples",
    "int",
    25,
    "Samples (random orders)",
    "For Shapley sampling: more orders give steadier estimates and take longer.",
    1,
    1000,
    step=5,
)
ORDER_TRIALS = Param(
    "order_trials",
    "int",
    5,
    "Order trials",
    "How many random orders of all the examples are tried, to see how much the order matters.",
    0,
    100,
)
SEED = Param("seed", "int", 0, "Random seed", "The same seed gives the same numbers.", 0, 2**32 - 1)
NORMALISE = Param(
    "normalise",
    "choice",
    "sum",
    "Which label the model picks (accuracy)",
    "The label of highest log-probability summed over its tokens (lm-eval's acc), or divided by its tokens, "
    "or by its characters (lm-eval's acc_norm): a long label is no longer penalised for its length. "
    "Probabilities and Shapley values are unchanged.",
    choices=("sum", "per_token", "per_char"),
    choice_labels=("Summed log-probability (acc)", "Per token", "Per character (acc_norm)"),
)

# The spec's settings, in the order the form shows them.
SETTINGS: tuple[Param, ...] = (
    CHAT, INSTRUCTION_AS_FEATURE, METHOD, MAX_EXACT, N_SAMPLES, ORDER_TRIALS, SEED, NORMALISE,
)
# The parameters a spec may also give inside a ``method`` object ({"name": "auto", "max_exact": 8}).
METHOD_PARAMS: tuple[Param, ...] = (MAX_EXACT, N_SAMPLES)


def uses_exact(method: str, n_features: int, max_exact: int, n_samples: int = N_SAMPLES.default) -> bool:
    """Whether Shapley values are computed exactly (else estimated by Shapley sampling).

    ``method`` "exact" and "sampling" decide by themselves; "auto" is exact up to
    ``max_exact`` features, and above it (up to :data:`EXACT_LIMIT`) wherever exact values
    cost no more than sampling: when ``n_samples`` random orders would score at least as
    many subsets as there are (the prefix tree makes every subset cost about the same).
    """
    if method == "exact":
        return True
    if method == "sampling":
        return False
    return n_features <= max_exact or (n_features <= EXACT_LIMIT and 2**n_features <= _sampled(n_features, n_samples))


def _sampled(n_features: int, n_samples: int) -> int:
    """Subsets Shapley sampling scores at most: each random order adds one subset per feature, all share the empty one."""
    return n_samples * n_features + 1


def method_reason(method: str, n_features: int, max_exact: int, n_samples: int = N_SAMPLES.default) -> str:
    """Why the run computes its Shapley values as it does, and what the other way would cost, in one sentence."""
    exact = uses_exact(method, n_features, max_exact, n_samples)
    subsets, sampled = 2**n_features, min(2**n_features, _sampled(n_features, n_samples))
    if method != "auto":
        chosen = "Exact Shapley values" if exact else "Shapley sampling"
        other = (f"sampling {n_samples} orders would score up to {sampled:,} subsets instead" if exact
                 else f"exact values would score all {subsets:,}")
        return f"{chosen}, as asked: {other}."
    if exact and n_features <= max_exact:
        return (f"Automatic: exact Shapley values, since {n_features} features is within the limit of {max_exact} "
                f"({subsets:,} subsets per query, each shared prefix scored once); sampling {n_samples} orders "
                f"would score up to {sampled:,}.")
    if exact:
        return (f"Automatic: exact Shapley values although {n_features} features is more than {max_exact}, since "
                f"sampling {n_samples} orders would score as many subsets ({subsets:,}) as exact values.")
    return (f"Automatic: Shapley sampling, since exact values over {n_features} features would score "
            f"{subsets:,} subsets per query and {n_samples} random orders score at most {sampled:,}; "
            "fewer examples (or a higher limit) give exact values.")


def exact_problem(method: str, n_features: int) -> str | None:
    """Why exact Shapley values cannot be asked for over ``n_features`` features, or None when they can."""
    if method != "exact" or n_features <= EXACT_LIMIT:
        return None
    return (
        f"exact Shapley values over {n_features} features need {2**n_features:,} prompts per query, more "
        f"than the limit of {EXACT_LIMIT} features allows; use auto or sampling, or drop examples."
    )


@dataclass(frozen=True)
class FewShotCost:
    """What a few-shot run scores (an upper bound: identical prompts are scored once).

    Attributes:
        exact: exact Shapley values (else Shapley sampling).
        n_features: examples, plus the instruction when it is a feature.
        coalitions: subsets of the features evaluated per query.
        n_samples: random orders of the features (Shapley sampling).
        queries: test queries.
        labels: labels scored after each prompt.
        prompts: prompts to score, over all queries (coalitions and order trials).
        reason: why exact or sampling, and what the other would cost (``method_reason``).
    """

    exact: bool
    n_features: int
    coalitions: int
    n_samples: int
    queries: int
    labels: int
    prompts: int
    reason: str = ""

    @property
    def scores(self) -> int:
        """Prompts x labels."""
        return self.prompts * self.labels

    def sentence(self) -> str:
        """The cost in words, for the form."""
        if self.exact:
            how = f"exact Shapley values: all {self.coalitions:,} subsets of the {self.n_features} features"
        else:
            how = f"Shapley sampling: {self.n_samples} random orders, up to {self.coalitions:,} subsets"
        return (
            f"This run uses {how}, for each of the {self.queries} queries: about {self.prompts:,} prompts x "
            f"{self.labels} labels = {self.scores:,} scores." + (f" {self.reason}" if self.reason else "")
        )


def few_shot_cost(
    n_features: int,
    n_queries: int,
    n_labels: int,
    method: str = METHOD.default,
    max_exact: int = MAX_EXACT.default,
    n_samples: int = N_SAMPLES.default,
    order_trials: int = ORDER_TRIALS.default,
) -> FewShotCost:
    """The cost of a few-shot run: per query, each evaluated coalition and order trial, times the labels."""
    exact = uses_exact(method, n_features, max_exact, n_samples)
    coalitions = 2**n_features if exact else min(2**n_features, n_samples * n_features + 1)
    return FewShotCost(
        exact=exact,
        n_features=n_features,
        coalitions=coalitions,
        n_samples=n_samples,
        queries=n_queries,
        labels=n_labels,
        prompts=(coalitions + order_trials) * n_queries,
        reason=method_reason(method, n_features, max_exact, n_samples),
    )


def cost_problem(cost: FewShotCost, prompt_chars: int) -> str | None:
    """Why a few-shot run would score or hold too much, in one sentence; None when it fits.

    Args:
        cost: the run's :func:`few_shot_cost`.
        prompt_chars: characters of the longest prompt (every example, the longest query).
    """
    if cost.scores > MAX_SCORES:
        return (
            f"{cost.prompts:,} prompts x {cost.labels} labels is more than the {MAX_SCORES:,} scores one run "
            "may make; use fewer examples, queries or samples (or sampling instead of exact values)."
        )
    rows = cost.coalitions if cost.exact else cost.n_samples * (cost.n_features + 1)
    memory = plan_memory(rows, cost.n_features, prompt_chars, prompts=cost.prompts)
    if memory > PLAN_MEMORY_BUDGET:
        return (
            f"{cost.prompts:,} prompts of up to {prompt_chars:,} characters would take about "
            f"{memory / 2**30:.1f} GiB, more than the {PLAN_MEMORY_BUDGET / 2**30:.0f} GiB one run may plan; "
            "use fewer or shorter examples, fewer queries, or fewer samples."
        )
    return None
