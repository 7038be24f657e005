"""Which models a server may load, and whether it may download from the Hugging Face hub.

Three environment variables, read on every call (so a test or a restart changes them):

``WHYLM_MODELS``
    The models the dashboard offers besides the bundled one, separated by commas.
    Each entry is ``name=source`` or just ``source``, where the source is a model
    folder on the server or a Hugging Face id, e.g.
    ``Llama 3.2 1B=/models/llama-3.2-1b, Qwen/Qwen2.5-0.5B-Instruct``. The name is
    what the sidebar shows (a bare source is shown as itself). A hub id may pin the
    revision it is loaded at with ``#``: ``Qwen/Qwen2.5-0.5B-Instruct#7ae5576...``;
    a served model names its server with ``@``: ``org/model@http://gpu-box:8000/v1``.
    An entry pins the name, the server and the revision together: a saved run that
    asks for another revision (a crafted one could name any branch or pull request
    of the hub) runs on the offered revision instead, and is told so
    (:func:`allowed_request`).
``WHYLM_ANY_MODEL``
    ``1`` lets the dashboard's sidebar load any folder, hub id or served model typed
    into it, at any revision. Only for a personal machine: anyone who can open the
    page can then make the server read its folders and connect to any address (the
    sentences for a missing folder and an unreachable server are worded alike, but
    the time an answer takes still tells something). Off by default, so a team server
    loads only the offered models.
``WHYLM_ALLOW_HUB``
    ``1`` lets models be downloaded from the hub. Off by default: a hub id loads only
    from the local Hugging Face cache, and nothing connects out.

The command line loads any folder or id a spec names (it is the machine's own
user), but downloads only when ``WHYLM_ALLOW_HUB`` allows it, like the dashboard.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

from core.errors import WhyLMError
from core.models.request import DEFAULT_NAME, ModelRequest

MODELS_ENV = "WHYLM_MODELS"
ANY_MODEL_ENV = "WHYLM_ANY_MODEL"
ALLOW_HUB_ENV = "WHYLM_ALLOW_HUB"
BUNDLED_SOURCE = "default"
BUNDLED_LABEL = "Bundled SmolLM2-135M-Instruct"
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class ModelChoice:
    """A model the dashboard offers: the name shown in the sidebar and what ``load_model`` is given."""

    label: str
    source: str
    endpoint: str | None = None  # a served model's server (``source@http://host:8000/v1``)
    revision: str | None = None  # the hub revision it is loaded at (``source#revision``); None: as the server has it

    def document(self) -> str | dict[str, str]:
        """The spec's ``model`` value for this choice."""
        extra = {k: v for k, v in (("revision", self.revision), ("endpoint", self.endpoint)) if v}
        return {"name": self.source, **extra} if extra else self.source

    def offers(self, request: ModelRequest) -> bool:
        """Whether ``request`` asks for this model at this server (whatever the revision)."""
        return self.source == request.name and self.endpoint == request.endpoint


def _flag(name: str, environ: Mapping[str, str] | None) -> bool:
    value = (os.environ if environ is None else environ).get(name, "")
    return value.strip().lower() in _TRUE


def hub_allowed(environ: Mapping[str, str] | None = None) -> bool:
    """Whether models may be downloaded from the Hugging Face hub (``WHYLM_ALLOW_HUB=1``)."""
    return _flag(ALLOW_HUB_ENV, environ)


def any_model_allowed(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the dashboard loads any folder or hub id typed in its sidebar (``WHYLM_ANY_MODEL=1``)."""
    return _flag(ANY_MODEL_ENV, environ)


def parse_models(text: str) -> list[ModelChoice]:
    """The entries of a ``WHYLM_MODELS`` value (without the bundled model).

    Raises WhyLMError with a sentence saying which entry to fix.
    """
    out: list[ModelChoice] = []
    example = "e.g. WHYLM_MODELS='Llama 1B=/models/llama-1b, Qwen/Qwen2.5-0.5B-Instruct'"
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        label, sep, source = entry.partition("=")
        label, source = label.strip(), source.strip()
        if not sep:
            label = source = entry
        if not label:
            raise WhyLMError(f"{MODELS_ENV}: the entry '{entry}' has no name before '='; {example}.")
        if not source:
            raise WhyLMError(f"{MODELS_ENV}: the entry '{entry}' has no folder or model id after '='; {example}.")
        taken = [BUNDLED_LABEL, *(m.label for m in out)]
        if label in taken:
            raise WhyLMError(f"{MODELS_ENV}: the name '{label}' is used twice; give each model its own name.")
        source, at, endpoint = source.partition("@")
        if at and not endpoint.strip().startswith(("http://", "https://")):
            raise WhyLMError(
                f"{MODELS_ENV}: in '{entry}', what follows '@' must be a server address such as "
                "http://gpu-box:8000/v1 (a model served by vLLM)."
            )
        source, pin, revision = source.partition("#")
        if pin and not revision.strip():
            raise WhyLMError(f"{MODELS_ENV}: in '{entry}', '#' must be followed by the revision to load (a commit).")
        shown = label if sep else (source.strip() + (f"#{revision.strip()}" if pin else ""))
        out.append(ModelChoice(shown, source.strip(), endpoint.strip().rstrip("/") or None, revision.strip() or None))
    return out


def offered_models(environ: Mapping[str, str] | None = None) -> tuple[list[ModelChoice], str | None]:
    """The models the dashboard offers (the bundled one first), and a sentence when WHYLM_MODELS is wrong.

    When ``WHYLM_MODELS`` cannot be read only the bundled model is offered.
    """
    bundled = ModelChoice(BUNDLED_LABEL, BUNDLED_SOURCE)
    text = (os.environ if environ is None else environ).get(MODELS_ENV, "")
    try:
        return [bundled, *parse_models(text)], None
    except WhyLMError as exc:
        return [bundled], str(exc)


def describe(request: ModelRequest) -> str:
    """A model request in words for a sentence: its name, and its server when it is served."""
    return f"'{request.name}' at {request.endpoint}" if request.endpoint else f"'{request.name}'"


def allowed_request(
    request: ModelRequest, environ: Mapping[str, str] | None = None
) -> tuple[ModelRequest | None, str | None]:
    """What this server runs for a request (a saved run's model): (request, None), (another, why), or (None, why).

    A request runs as it is when an offered model has its name, server and revision
    (or with ``WHYLM_ANY_MODEL=1``). The same name and server at another revision
    runs at the offered revision, with a sentence saying so; anything else is
    refused with a sentence. The bundled model is always offered.
    """
    if any_model_allowed(environ):
        return request, None
    if request.endpoint is None and request.name == DEFAULT_NAME and request.tokenizer is None:
        return request, None
    offered, _ = offered_models(environ)
    match = next((m for m in offered if m.offers(request)), None) if request.tokenizer is None else None
    if match is None:
        labels = ", ".join(m.label for m in offered)
        return None, (
            f"{describe(request)} is not one of the models this server offers ({labels}); pick one in the sidebar. "
            f"The server's administrator can add models with {MODELS_ENV}."
        )
    if match.revision == request.revision:
        return request, None
    asked = f"revision '{request.revision}'" if request.revision else "no pinned revision"
    offered_at = f"revision '{match.revision}'" if match.revision else "the revision it has, not a pinned one"
    return replace(request, revision=match.revision), (
        f"The saved run asks for {describe(request)} at {asked}; this server offers '{match.label}' at {offered_at} "
        f"only ({MODELS_ENV} pins it), so it runs on that; its numbers may differ from the saved run's."
    )
