"""Links that open what a reviewer saw: a saved run, a comparison, a page's form restored from a run.

The address bar carries what is shown, so a reload or a shared link shows the same thing:

- Saved runs: ``?run=ID`` opens that run, ``?compare=ID,ID,...`` the comparison
  (:func:`picks_from_url` reads them, :func:`url_follows_picks` writes them).
- A page with a form: ``?from_run=ID`` restores the form from the run's spec
  (:func:`restore_from_url`) and pins the run's model at the revision it recorded
  (``ui.shared.model.pin_model``); ``&then=run`` runs it again at once. A finished,
  saved run puts its own id there (:func:`url_follows_run`).
- An item of a saved run: ``?from_run=ID&item=I&model=K`` (:func:`item_link`) fills the form of the page
  that takes the item's spec (a study item's contrast on Explain a prompt; the run's kind says what an
  item opens as: ``RunKind.item_spec``) and pins the item's model.
- A run in progress: ``?job=ID`` (:func:`url_follows_job`). A reload, or the link in
  another tab, reattaches to the job (``ui.shared.run_job.find_job``): the form is restored
  from its spec and its progress shown until it ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import streamlit as st

from core.errors import WhyLMError
from core.kinds import stored_kind
from core.store import RunRecord
from ui.shared.errors import show_error
from ui.shared.model import pin_model, unpin_model
from ui.shared.page_table import PAGES, Page
from ui.shared.run_job import find_job
from ui.shared.store import open_store

FROM_RUN = "from_run"
THEN = "then"
RUN_AGAIN = "run"
ITEM = "item"
MODEL = "model"

LoadSpec = Callable[[dict[str, Any], str], None]


def _ids(text: str) -> list[int]:
    """Run ids written in a link ("3" or "3,7,9"); anything that is not a whole number is left out."""
    return [int(part) for part in text.split(",") if part.strip().isdigit()]


# ---------------------------------------------------------------- Saved runs


def picks_from_url(pick_key: str, known: set[int]) -> None:
    """Before the runs are picked: a link's ``?run=`` or ``?compare=`` picks those runs (once per link)."""
    wanted = st.query_params.get("compare") or st.query_params.get("run")
    if not wanted or st.session_state.get("sr_url_applied") == wanted:
        return
    st.session_state["sr_url_applied"] = wanted
    ids = [i for i in _ids(wanted) if i in known]
    missing = [i for i in _ids(wanted) if i not in known]
    if missing:
        show_error(
            f"The link names run {', '.join(map(str, missing))}, which is not in this database (deleted, or "
            "saved on another server)."
        )
    st.session_state[pick_key] = ids


def url_follows_picks(picked: list[int]) -> None:
    """After the runs are picked: the address bar says what is open (``?run=``, ``?compare=`` or nothing)."""
    text = ",".join(map(str, picked))
    for name in ("run", "compare"):
        if name in st.query_params:
            del st.query_params[name]
    if len(picked) == 1:
        st.query_params["run"] = text
    elif len(picked) > 1:
        st.query_params["compare"] = text
    st.session_state["sr_url_applied"] = text or None


def run_address(run_id: int) -> str:
    """The address that opens run ``run_id`` on Saved runs: this page's address with ``?run=ID``."""
    try:
        here = urlsplit(str(st.context.url or ""))
    except Exception:  # noqa: BLE001 - no browser address known (a test): a relative link still works
        here = urlsplit("")
    return urlunsplit((here.scheme, here.netloc, here.path, urlencode({"run": run_id}), ""))


def copy_link(record: RunRecord) -> None:
    """A "Copy link" action: the run's address, with a copy button, to share with a team."""
    with st.popover(
        "Copy link", icon=":material/link:", help="The address that opens this run on Saved runs."
    ):
        st.code(run_address(record.id), language=None)
        st.caption("Copy it with the button at its right; whoever opens it on this server sees this run.")


def run_links(record: RunRecord, page: Page | None) -> None:
    """Under a saved run: "Copy link", "Open in its page" (the form restored from its spec) and "Run again"."""
    copy_link(record)
    if page is None or not isinstance(record.spec, dict):
        return
    left, right = st.columns(2)
    links = (
        (left, "Open in its page", ":material/edit:", {FROM_RUN: str(record.id)},
         "The page's form filled in from this run's spec, ready to change and run."),
        (right, "Run again", ":material/replay:", {FROM_RUN: str(record.id), THEN: RUN_AGAIN},
         "Runs this run's spec again on its page (a new run is saved; this one stays)."),
    )
    for place, label, icon, params, help_text in links:
        if page.start:  # a page link to the start page is a bare query, which a new tab opens here
            place.link_button(label, page_address(page, params), icon=icon, help=help_text + " Opens in a new tab.")
        else:
            place.page_link(page.path, label=label, icon=icon, query_params=params, help=help_text)


# ---------------------------------------------------------------- a page's form


def autorun_key(prefix: str) -> str:
    """Session-state key that asks a page to press Run once (a "Run again" link)."""
    return f"{prefix}_autorun"


JOB = "job"


def url_follows_job(job: Any) -> None:
    """After Run: the address bar names the job (``?job=ID``) until it ends."""
    job_id = getattr(job, "job_id", None)
    if isinstance(job_id, str) and getattr(job, "running", False):
        st.query_params[JOB] = job_id
        st.session_state["url_job_applied"] = job_id


def _reattach(prefix: str, load_spec: LoadSpec, job_key: str) -> bool:
    """A ``?job=ID`` link of a run still known to this server: take the job over and restore its form."""
    wanted = st.query_params.get(JOB)
    if not wanted or st.session_state.get("url_job_applied") == wanted:
        return False
    st.session_state["url_job_applied"] = wanted
    job = find_job(wanted)
    if job is None:
        del st.query_params[JOB]
        return False
    try:
        load_spec(job.spec, job.title)
    except Exception:  # noqa: BLE001 - the progress is still shown; the form keeps what it had
        pass
    st.session_state[job_key] = job
    return True


def restore_from_url(
    prefix: str,
    load_spec: LoadSpec,
    result_key: str | None = None,
    job_key: str | None = None,
    items: bool = False,
) -> bool:
    """Before a form is drawn: fill it from the run a ``?from_run=ID`` link names (once per link).

    ``load_spec(spec, title)`` loads a spec into the form; the run's stored result is
    shown under it (in ``st.session_state[result_key]``). With ``&then=run`` the page
    runs it again once instead (:func:`autorun_key`). A page whose form takes saved runs'
    items (``items``) opens ``&item=I&model=K`` as the item's spec (:func:`item_link`).
    Returns True when the form was filled now.
    """
    if job_key is not None and _reattach(prefix, load_spec, job_key):
        return True
    wanted = st.query_params.get(FROM_RUN)
    item = st.query_params.get(ITEM) if items else None
    marker = f"{prefix}_url_applied"
    applied = f"{wanted}&{ITEM}={item}&{MODEL}={st.query_params.get(MODEL, '0')}" if item else wanted
    if not wanted or st.session_state.get(marker) == applied:
        return False
    st.session_state[marker] = applied
    ids = _ids(wanted)
    repo, error = open_store()
    if repo is None or not ids:
        show_error(error or f"The link's run '{wanted}' is not a run number.")
        return False
    try:
        record = repo.get_run(ids[0])
    except WhyLMError as exc:
        show_error(exc)
        return False
    if item is not None:
        return _restore_item(record, item, st.query_params.get(MODEL, "0"), load_spec)
    if not isinstance(record.spec, dict):
        show_error(f"Run {record.id} has no spec to fill the form with.")
        return False
    try:
        load_spec(record.spec, record.title)
    except Exception as exc:  # noqa: BLE001 - a stored spec the form cannot show: a sentence, not a traceback
        show_error(f"Run {record.id}'s spec does not fit this page's form ({type(exc).__name__}).")
        return False
    from ui.shared.page_parts import stage_more

    stage_more(prefix, {f"{prefix}_tags": ", ".join(record.tags)})  # re-opened with its tags, not none
    meta = record.result.get("meta") if isinstance(record.result, dict) else None
    refused = pin_model(
        record.spec.get("model"), meta.get("model_revision") if isinstance(meta, dict) else None
    )
    if refused:
        show_error(refused)
    if st.query_params.get(THEN) == RUN_AGAIN:
        st.session_state[autorun_key(prefix)] = True
        del st.query_params[THEN]
    elif result_key is not None and isinstance(record.result, dict):
        st.session_state[result_key] = record.result
        st.session_state[f"{result_key}_outcome"] = {
            "status": record.status,
            "error": record.error,
            "run_id": record.id,
            "save_error": None,
            "saved": True,
        }
    return True


def _restore_item(record: RunRecord, item: str, model: str, load_spec: LoadSpec) -> bool:
    """Fill the form with item ``item`` of saved run ``record`` on model ``model`` (its kind's ``item_spec``)."""
    kind = stored_kind(record.result)
    if kind is None or kind.item_spec is None or not item.isdigit() or not model.isdigit():
        show_error(f"Run {record.id} has no item '{item}' of model '{model}' to open here.")
        return False
    try:
        opened = kind.item_spec(record.result, int(item), int(model))
    except WhyLMError as exc:
        show_error(exc)
        return False
    try:
        load_spec(opened.spec, opened.title)
    except Exception as exc:  # noqa: BLE001 - a spec the form cannot show: a sentence, not a traceback
        show_error(f"Run {record.id}'s item {item} does not fit this page's form ({type(exc).__name__}).")
        return False
    refused = pin_model(opened.spec.get("model"), opened.revision)
    if refused:
        show_error(refused)
    return True


def _page_taking(spec: dict[str, Any]) -> Page | None:
    """The page whose form takes ``spec`` (its kind, and for attribution its method's family)."""
    method = spec.get("method")
    name = method.get("name") if isinstance(method, dict) else method
    return next((p for p in PAGES if p.made(str(spec.get("kind")), name if isinstance(name, str) else None)), None)


def page_address(page: Page, params: dict[str, str]) -> str:
    """The address of ``page`` with ``params``: the app's root and the page's own path (none for the start
    page, whose address is the root), absolute when the browser's address is known.

    A page link (``st.page_link``) to the start page has the bare query as its address (``?from_run=3``), which
    a new tab or a copied link opens on the page it was copied from; this address opens the page itself.
    """
    url_path = st.Page(page.path, default=page.start).url_path
    base = str(st.get_option("server.baseUrlPath") or "").strip("/")
    path = "/" + "/".join(part for part in (base, url_path) if part)
    try:
        here = urlsplit(str(st.context.url or ""))
    except Exception:  # noqa: BLE001 - no browser address known (a test): the root-relative address
        here = urlsplit("")
    return urlunsplit((here.scheme, here.netloc, path, urlencode(params), ""))


def item_link(spec: dict[str, Any], run_id: int, item: int, model: int, label: str, help: str) -> None:
    """A link to the page that takes ``spec`` (item ``item`` of saved run ``run_id`` on model ``model``, as
    its kind's ``item_spec`` makes it), opened in a new tab: ``?from_run=ID&item=I&model=K`` fills that
    page's form (:func:`restore_from_url`), so the link can be shared and reloaded too."""
    page = _page_taking(spec)
    if page is None:
        return
    st.link_button(
        label,
        page_address(page, {FROM_RUN: str(run_id), ITEM: str(item), MODEL: str(model)}),
        help=help,
    )


def remember_run_shown(view_key: str, run_id: int | None) -> None:
    """Before a result view is drawn: the saved run it draws (None: not saved), for its links to name."""
    st.session_state[f"{view_key}_run_id"] = run_id


def run_shown(view_key: str) -> int | None:
    """The saved run the view drawn with ``view_key`` shows (:func:`remember_run_shown`), or None."""
    value = st.session_state.get(f"{view_key}_run_id")
    return value if isinstance(value, int) else None


def forget_run_link() -> None:
    """When a form is filled with something else (an example): the address bar stops naming a saved run."""
    unpin_model()
    for name in (FROM_RUN, THEN, ITEM, MODEL):
        if name in st.query_params:
            del st.query_params[name]


def url_follows_run(prefix: str, run_id: int | None) -> None:
    """After a run was saved: the address bar names it (``?from_run=ID``), so a reload restores this form."""
    for name in (JOB, ITEM, MODEL):  # the form now holds its own run, not a saved run's item
        if name in st.query_params:
            del st.query_params[name]
    if run_id is None:
        return
    st.query_params[FROM_RUN] = str(run_id)
    st.session_state[f"{prefix}_url_applied"] = str(run_id)
