"""Few-shot prompts: which examples of a few-shot prompt help the model answer right, and which hurt.

The form builds a few-shot spec (see ``core.few_shot_spec``): the instruction,
how an example and a query are written, the label set, the examples and the
test queries (each edited in a table, pasted, or uploaded as a CSV with the
columns input,label), chat mode, the instruction as a feature, the Shapley
method, the order trials and the seed. The run goes through
``core.engine.run`` in a background thread and is saved; the result is drawn
by ``pages.few_shot_view.show_few_shot_result``.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core import engine
from core.errors import SpecError, WhyLMError
from core.few_shot_spec import (
    EXACT_LIMIT,
    MAX_EXACT_DEFAULT,
    MAX_ORDER_TRIALS,
    MAX_SAMPLES,
    N_SAMPLES_DEFAULT,
    ORDER_TRIALS_DEFAULT,
    few_shot_presets,
    load_examples_csv,
    load_queries_csv,
    parse_few_shot_spec,
)
from pages.common import chosen_model_name, error_sentence, escape_markdown
from pages.few_shot_view import show_few_shot_result
from pages.page_parts import (
    LIST_TABS,
    cell_text,
    clean_rows,
    csv_uploader,
    list_message,
    paste_box,
    probe_preset_picker,
    spec_problem,
    spreadsheet_csv,
    table_editor,
    uploaded_text,
)
from pages.run_job import run_controls

PREFIX = "fs"
JOB_KEY = "fs_job"
RESULT_KEY = "fs_result"
COLUMNS = ["input", "label"]
TABLES = {"ex": "examples", "q": "queries"}
METHOD_WORDS = {
    "auto": "Automatic: exact up to the limit below, sampling above",
    "exact": "Exact Shapley values",
    "sampling": "Shapley sampling (an estimate)",
}
FIELDS = {
    "instruction": "Instruction",
    "example_format": "Example format",
    "query_format": "Query format",
    "labels": "Labels",
    "examples": "Examples",
    "queries": "Queries",
    "chat": "Chat mode",
    "include_instruction_as_feature": "Instruction as a feature",
    "method": "Method",
    "max_exact": "Exact up to",
    "n_samples": "Samples",
    "order_trials": "Order trials",
    "seed": "Seed",
    "model": "Model",
    "label_prefix": "Label prefix",
}


def k(name: str) -> str:
    """Session-state key of one of this page's widgets."""
    return f"{PREFIX}_{name}"


def few_shot_error_sentence(exc: BaseException) -> str:
    """A few-shot SpecError as a sentence naming the form field ("Examples, row 3: 'x' is not ...")."""
    return error_sentence(exc, FIELDS, number_rows=True)


# ---------------------------------------------------------------- pure conversions


def labels_from_text(text: str) -> list[str]:
    """The label set typed as "positive, negative" (commas or new lines); blanks dropped."""
    parts = (text or "").replace("\n", ",").split(",")
    return [p.strip() for p in parts if p.strip()]


def text_from_labels(labels: list[str]) -> str:
    """The label box's text for a label set."""
    return ", ".join(labels)


def pairs_from_rows(rows: list[dict[str, Any]], field: str) -> list[dict[str, str]]:
    """Spec pairs from table rows; blank rows are skipped; raise SpecError for a half-filled row."""
    out = []
    for number, row in enumerate(rows, start=1):
        text, label = cell_text(row.get("input")), cell_text(row.get("label"))
        if not text and not label:
            continue
        if not label:
            raise SpecError(field, f"row {number} of the table has text but no label; write its label.")
        if not text:
            raise SpecError(field, f"row {number} of the table has a label but no text; write its text.")
        out.append({"input": text, "label": label})
    return out


def csv_text(text: str) -> str:
    """Pasted or uploaded text as CSV: tab-separated text (from a spreadsheet) becomes commas."""
    return spreadsheet_csv(text, commas_mean_csv=False)


def pairs_from_list_text(text: str, which: str) -> list[dict[str, str]]:
    """Examples (``which`` "ex") or queries ("q") from pasted or uploaded CSV text (header input,label)."""
    loader = load_examples_csv if which == "ex" else load_queries_csv
    if not text.strip():
        raise SpecError(TABLES[which], "there is nothing to read; paste a header line input,label and one row per item.")
    return loader(csv_text(text))


def work_words(n_features: int, n_queries: int, n_labels: int, uses_exact: bool, n_samples: int, trials: int) -> str:
    """What a run will score, in words (an upper bound: identical prompts are scored once)."""
    if uses_exact:
        coalitions = 2**n_features
        how = f"exact Shapley values: all {coalitions:,} subsets of the {n_features} features"
    else:
        coalitions = min(2**n_features, n_samples * n_features + 1)
        how = f"Shapley sampling: {n_samples} random orders, up to {coalitions:,} subsets"
    prompts = (coalitions + trials) * n_queries
    return (
        f"This run uses {how}, for each of the {n_queries} queries: about {prompts:,} prompts x "
        f"{n_labels} labels = {prompts * n_labels:,} scores."
    )


# ---------------------------------------------------------------- state changes (callbacks)


def set_rows(which: str, rows: list[dict[str, str]]) -> None:
    """Replace a table's contents (``which`` is "ex" or "q"); it is redrawn fresh."""
    state = st.session_state
    state[k(f"{which}_base")] = clean_rows(rows, COLUMNS)
    state[k(f"{which}_now")] = [dict(r) for r in state[k(f"{which}_base")]]
    state[k(f"{which}_version")] = state.get(k(f"{which}_version"), 0) + 1


def table_key(which: str) -> str:
    """The current widget key of a table's data editor (it changes when the table is replaced)."""
    return k(f"{which}_table_{st.session_state.get(k(f'{which}_version'), 0)}")


def load_preset_state(spec: dict[str, Any]) -> None:
    """Fill the whole form from a few-shot spec (a preset or a stored run's spec)."""
    state = st.session_state
    state[k("instruction")] = spec.get("instruction", "") or ""
    state[k("example_format")] = spec.get("example_format", "")
    state[k("query_format")] = spec.get("query_format", "")
    state[k("labels")] = text_from_labels(list(spec.get("labels") or []))
    set_rows("ex", list(spec.get("examples") or []))
    set_rows("q", list(spec.get("queries") or []))
    state[k("chat")] = bool(spec.get("chat", False))
    state[k("as_feature")] = bool(spec.get("include_instruction_as_feature", False))
    method = spec.get("method", "auto")
    params = method if isinstance(method, dict) else {}
    state[k("method")] = params.get("name", "auto") if isinstance(method, dict) else method
    state[k("max_exact")] = int(spec.get("max_exact", params.get("max_exact", MAX_EXACT_DEFAULT)))
    state[k("n_samples")] = int(spec.get("n_samples", params.get("n_samples", N_SAMPLES_DEFAULT)))
    state[k("order_trials")] = int(spec.get("order_trials", ORDER_TRIALS_DEFAULT))
    state[k("seed")] = int(spec.get("seed", 0))
    state[k("title")] = spec.get("title", "")
    for which in TABLES:
        state.pop(k(f"{which}_error"), None)
        state[k(f"{which}_note")] = None


def load_preset() -> None:
    """Button callback: load the chosen preset into the form."""
    load_preset_state(few_shot_presets()[st.session_state[k("preset")]])


def _apply_list_text(which: str, text: str, source: str) -> None:
    state = st.session_state
    try:
        rows = pairs_from_list_text(text, which)
    except SpecError as exc:
        state[k(f"{which}_error")] = few_shot_error_sentence(exc)
        state[k(f"{which}_note")] = None
        return
    set_rows(which, rows)
    state.pop(k(f"{which}_error"), None)
    state[k(f"{which}_note")] = f"Loaded {len(rows)} {TABLES[which]} from the {source}."


def apply_paste(which: str) -> None:
    """Button callback: the pasted text replaces the table."""
    _apply_list_text(which, st.session_state.get(k(f"{which}_paste"), "") or "", "pasted text")


def apply_upload(which: str) -> None:
    """Upload callback: the CSV file replaces the table."""
    loaded = uploaded_text(k(f"{which}_csv"), k(f"{which}_error"), FIELDS[TABLES[which]])
    if loaded is not None:
        _apply_list_text(which, *loaded)


# ---------------------------------------------------------------- form


def task_form() -> dict[str, Any]:
    """Instruction, label set and the two formats; returns those parts of the spec."""
    instruction = st.text_area(
        "Instruction (optional)",
        key=k("instruction"),
        height=70,
        help="Written once at the top of the prompt, before the examples.",
    )
    labels_text = st.text_input(
        "Labels the model chooses between (separated by commas)",
        key=k("labels"),
        help="Every example and query must have one of these labels. The model's answer is the label it "
        "finds most likely after the query.",
    )
    c1, c2 = st.columns(2)
    example_format = c1.text_area(
        "How each example is written",
        key=k("example_format"),
        height=110,
        help="Use {input} for the example's text and {label} for its label. Press Enter for a new line; "
        "end with a blank line to separate examples.",
    )
    query_format = c2.text_area(
        "How the query is written",
        key=k("query_format"),
        height=110,
        help="Use {input} for the query's text; the model's label comes right after it.",
    )
    return {
        "instruction": instruction,
        "labels": labels_from_text(labels_text),
        "example_format": example_format,
        "query_format": query_format,
    }


def table_form(which: str, labels: list[str]) -> list[dict[str, str]]:
    """The examples or queries table with paste and upload; returns its rows."""
    state = st.session_state
    noun = TABLES[which]
    tab_table, tab_paste, tab_upload = st.tabs(LIST_TABS)
    label_help = "One of the labels: " + ", ".join(labels) if labels else "Its label."
    with tab_table:
        rows = table_editor(
            state.get(k(f"{which}_base")) or [],
            COLUMNS,
            key=table_key(which),
            column_config={
                "input": st.column_config.TextColumn("input", help="The text.", width="large"),
                "label": st.column_config.TextColumn(
                    "label",
                    help=label_help + (" (the right answer)" if which == "q" else ""),
                ),
            },
        )
        state[k(f"{which}_now")] = rows
    with tab_paste:
        paste_box(
            f"Paste the {noun}: first line input,label, then one per line (commas or tabs, e.g. from a spreadsheet)",
            k(f"{which}_paste"),
            placeholder='input,label\n"A warm, funny film.",positive\n...',
            button=f"Use the pasted {noun}",
            on_paste=apply_paste,
            args=(which,),
        )
    with tab_upload:
        csv_uploader(
            f"A CSV file of {noun} with the columns input and label", k(f"{which}_csv"), apply_upload, args=(which,)
        )
    list_message(k(f"{which}_error"), k(f"{which}_note"))
    filled = [r for r in rows if r["input"] or r["label"]]
    counts: dict[str, int] = {}
    for r in filled:
        counts[r["label"] or "(no label)"] = counts.get(r["label"] or "(no label)", 0) + 1
    if filled:
        st.caption(
            escape_markdown(f"{len(filled)} {noun}: " + ", ".join(f"{lab} {n}" for lab, n in counts.items()))
        )
    return rows


def settings_form() -> dict[str, Any]:
    """Chat mode, the instruction as a feature, the Shapley method, order trials and seed."""
    state = st.session_state
    defaults = {
        "chat": False,
        "as_feature": False,
        "method": "auto",
        "max_exact": MAX_EXACT_DEFAULT,
        "n_samples": N_SAMPLES_DEFAULT,
        "order_trials": ORDER_TRIALS_DEFAULT,
        "seed": 0,
    }
    for name, value in defaults.items():
        state.setdefault(k(name), value)
    c1, c2 = st.columns(2)
    chat = c1.checkbox(
        "Chat mode: send the whole prompt as a chat message",
        key=k("chat"),
        help="For instruction-tuned models: the prompt becomes the user's message and the label the start of "
        "the assistant's answer. Usually off for plain few-shot prompts.",
    )
    as_feature = c2.checkbox(
        "Also measure the instruction (as one more feature)",
        key=k("as_feature"),
        help="The instruction is then left out and put back like an example, and gets its own value.",
    )
    method = st.radio(
        "How the Shapley values are computed",
        list(METHOD_WORDS),
        format_func=METHOD_WORDS.get,
        key=k("method"),
        horizontal=True,
        help="Exact values try every subset of the examples (2 to the power of their number); sampling "
        "estimates them from random orders, which is much cheaper for many examples.",
    )
    c3, c4, c5, c6 = st.columns(4)
    max_exact = c3.number_input(
        "Exact up to (features)",
        min_value=1,
        max_value=EXACT_LIMIT,
        step=1,
        key=k("max_exact"),
        help="With the automatic method, more features than this switch to sampling.",
        disabled=method != "auto",
    )
    n_samples = c4.number_input(
        "Samples (random orders)",
        min_value=1,
        max_value=MAX_SAMPLES,
        step=5,
        key=k("n_samples"),
        help="For Shapley sampling: more orders give steadier estimates and take longer.",
        disabled=method == "exact",
    )
    order_trials = c5.number_input(
        "Order trials",
        min_value=0,
        max_value=MAX_ORDER_TRIALS,
        step=1,
        key=k("order_trials"),
        help="How many random orders of all the examples are tried, to see how much the order matters.",
    )
    seed = c6.number_input(
        "Random seed", min_value=0, step=1, key=k("seed"), help="The same seed gives the same numbers."
    )
    return {
        "chat": bool(chat),
        "include_instruction_as_feature": bool(as_feature),
        "method": method,
        "max_exact": int(max_exact),
        "n_samples": int(n_samples),
        "order_trials": int(order_trials),
        "seed": int(seed),
    }


def method_note(spec: dict[str, Any]) -> None:
    """Before the run: say when Shapley values switch to sampling, and how much will be scored."""
    n_examples = len(spec["examples"])
    n_features = n_examples + (1 if spec["include_instruction_as_feature"] else 0)
    if not n_examples or not spec["queries"] or len(spec["labels"]) < 2:
        return
    limit = spec["max_exact"]
    if spec["method"] == "auto":
        uses_exact = n_features <= limit
        if not uses_exact:
            what = f"{n_examples} examples" + (" and the instruction" if n_features > n_examples else "")
            st.info(
                f"With {what} ({n_features} features, more than {limit}), exact Shapley values would need "
                f"{2**n_features:,} prompts per query, so this run switches to sampling: the values are "
                f"estimated from {spec['n_samples']} random orders of the features. Raise the number of samples "
                "for steadier values, or use fewer examples for exact ones."
            )
    else:
        uses_exact = spec["method"] == "exact"
    st.caption(
        escape_markdown(
            work_words(
                n_features, len(spec["queries"]), len(spec["labels"]), uses_exact, spec["n_samples"],
                spec["order_trials"],
            )
        )
    )


def build_spec() -> tuple[dict[str, Any], str | None]:
    """Draw the whole form; return (spec, a sentence saying what to fix in a table, or None)."""
    st.subheader("1. The task")
    task = task_form()
    table_error = None
    st.subheader("2. The examples in the prompt")
    ex_rows = table_form("ex", task["labels"])
    st.subheader("3. The test queries, with their right labels")
    q_rows = table_form("q", task["labels"])
    try:
        examples = pairs_from_rows(ex_rows, "examples")
    except SpecError as exc:
        examples, table_error = [], few_shot_error_sentence(exc)
    try:
        queries = pairs_from_rows(q_rows, "queries")
    except SpecError as exc:
        queries, table_error = [], table_error or few_shot_error_sentence(exc)
    st.subheader("4. Method")
    settings = settings_form()
    spec = {
        "kind": "few_shot",
        "model": chosen_model_name() or "default",
        **task,
        "examples": examples,
        "queries": queries,
        **settings,
    }
    method_note(spec)
    _preview(spec)
    return spec, table_error


def _preview(spec: dict[str, Any]) -> None:
    """The prompt as the model reads it for the first query, when the form is complete."""
    try:
        parsed = parse_few_shot_spec(spec)
    except WhyLMError:
        return
    with st.expander("Preview the prompt (all examples, first query)"):
        st.code(parsed.user_text(range(len(parsed.examples)), 0) + parsed.label_text("…"), language=None)


def validate(spec: dict[str, Any], form_error: str | None) -> str | None:
    """The sentence that says what to fix in the form, or None when the spec can run."""
    if form_error:
        return form_error
    if not spec["examples"]:
        return "Examples: there are no examples; give at least one labelled example."
    if not spec["queries"]:
        return "Queries: there are no queries; give at least one test item with its right label."
    return spec_problem(parse_few_shot_spec, spec, few_shot_error_sentence)


def main() -> None:
    """The page."""
    st.title("Few-shot prompts")
    st.caption(
        "Which examples in a few-shot prompt help the model answer right, and which hurt? WhyLM leaves "
        "examples out in every combination, asks the model to label each test query, and measures how much "
        "each example raises or lowers the probability of the right label (its Shapley value). It also "
        "reports accuracy with no examples, all of them, each one left out, the best subset, and shuffled orders."
    )
    presets = few_shot_presets()
    if k("labels") not in st.session_state:
        st.session_state[k("preset")] = "sentiment" if "sentiment" in presets else next(iter(presets))
        load_preset_state(presets[st.session_state[k("preset")]])
    probe_preset_picker(PREFIX, "Ready-made tasks", presets, on_load=load_preset)

    spec, form_error = build_spec()
    st.session_state.setdefault(k("tags"), "few-shot")
    run_controls(PREFIX, JOB_KEY, RESULT_KEY, spec, lambda: validate(spec, form_error), show_few_shot_result, engine.run)


if __name__ == "__main__":  # streamlit runs pages as __main__; tests import the helpers
    main()
