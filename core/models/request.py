"""The spec's ``model`` field: a name, or an object with the name and how to load it.

``"model": "default"`` (or a hub id, or a folder) still works. The object form
adds how the model is loaded::

    "model": {"name": "Qwen/Qwen2.5-7B-Instruct", "revision": "a1b2c3d",
              "dtype": "bfloat16", "device_map": "auto"}

- ``revision``: a hub commit, branch or tag; a saved run records the revision it
  used, so running it again asks for that one.
- ``dtype``: ``float32``, ``bfloat16`` or ``float16``; left out, float32 on a CPU
  and bfloat16 on a GPU. Scoring runs in this dtype; log-softmax and sums stay
  in float32.
- ``device_map``: ``"auto"`` spreads a large model over the GPUs and the CPU
  (accelerate); left out, the model sits on one device.
- ``endpoint`` (and optionally ``tokenizer``): the model is served by an
  OpenAI-compatible server (vLLM, SGLang, ``python -m core.serve_model``); see
  ``core.models.remote``.

Every kind's parser reads the field here, so it is checked in one place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from core.errors import SpecError

if TYPE_CHECKING:  # torch is imported when a model is loaded, not when a spec is read
    import torch

DEFAULT_NAME = "default"
DTYPES = ("float32", "bfloat16", "float16")
DEVICE_MAPS = ("auto",)
FIELDS = ("name", "revision", "dtype", "device_map", "endpoint", "tokenizer")
MAX_NAME_CHARS = 300
HUB_COMMIT = re.compile(r"[0-9a-f]{40}")  # what a hub model records as its revision (the commit it loaded)


@dataclass(frozen=True)
class ModelRequest:
    """Which model to load, and how.

    Attributes:
        name: "default", a Hugging Face id or a model folder.
        revision: a hub revision to pin (None: the newest, or the folder as it is).
        dtype: one of :data:`DTYPES` (None: float32 on a CPU, bfloat16 on a GPU).
        device_map: "auto" to spread the model over devices (None: one device).
        endpoint: an OpenAI-compatible server's address (``http://host:8000/v1``) that serves
            the model (``core.models.remote``); None: the weights are loaded here.
        tokenizer: where the tokenizer of a served model is loaded from (None: ``name``).
    """

    name: str = DEFAULT_NAME
    revision: str | None = None
    dtype: str | None = None
    device_map: str | None = None
    endpoint: str | None = None
    tokenizer: str | None = None

    def document(self) -> str | dict[str, str]:
        """The spec's ``model`` value: the name alone when nothing else is asked, else the object."""
        extra = {k: getattr(self, k) for k in FIELDS[1:] if getattr(self, k) is not None}
        return {"name": self.name, **extra} if extra else self.name

    def torch_dtype(self, device: torch.device) -> torch.dtype:
        """The dtype to load in on ``device``."""
        import torch

        if self.dtype is not None:
            return getattr(torch, self.dtype)
        return torch.bfloat16 if device.type == "cuda" else torch.float32

    def key(self) -> tuple[str, ...]:
        """What makes two loaded models different (for a cache of loaded models)."""
        return tuple(getattr(self, k) or "" for k in FIELDS)


def parse_model(value: Any, field: str = "model") -> ModelRequest:
    """Read a spec's ``model`` value (a name or an object); raise SpecError with a sentence when it is wrong."""
    if isinstance(value, ModelRequest):
        return value
    if isinstance(value, str):
        return ModelRequest(_name(value, field))
    if not isinstance(value, Mapping):
        raise SpecError(field, 'give a model name ("default" for the bundled one) or {"name": ..., "dtype": ...}.')
    unknown = sorted(set(value) - set(FIELDS))
    if unknown:
        raise SpecError(field, f"unknown model field {', '.join(map(str, unknown))}; use {', '.join(FIELDS)}.")
    name = _name(value.get("name", DEFAULT_NAME), f"{field}.name")
    revision = value.get("revision")
    if revision is not None and (not isinstance(revision, str) or not revision.strip() or len(revision) > 200):
        raise SpecError(f"{field}.revision", "give the revision as a commit, branch or tag name, or leave it out.")
    dtype = value.get("dtype")
    if dtype is not None and dtype not in DTYPES:
        raise SpecError(f"{field}.dtype", f"choose one of {', '.join(DTYPES)}, or leave it out for this machine's default.")
    device_map = value.get("device_map")
    if device_map is not None and device_map not in DEVICE_MAPS:
        raise SpecError(f"{field}.device_map", 'use "auto" to spread the model over devices, or leave it out.')
    endpoint = value.get("endpoint")
    if endpoint is not None and not (
        isinstance(endpoint, str) and endpoint.startswith(("http://", "https://")) and len(endpoint) <= 500
        and not any(c.isspace() for c in endpoint)
    ):
        raise SpecError(f"{field}.endpoint", 'give the server\'s address, e.g. "http://127.0.0.1:8000/v1".')
    tokenizer = value.get("tokenizer")
    if tokenizer is not None:
        tokenizer = _name(tokenizer, f"{field}.tokenizer")
    if endpoint is not None and (dtype is not None or device_map is not None):
        raise SpecError(f"{field}.endpoint", "a served model is loaded by its server; leave dtype and device_map out.")
    return ModelRequest(
        name, revision.strip() if revision else None, dtype, device_map,
        endpoint.rstrip("/") if endpoint else None, tokenizer,
    )


def _name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecError(field, 'give a model name, a folder, or "default" for the bundled model.')
    if len(value) > MAX_NAME_CHARS:
        raise SpecError(field, f"a model name is at most {MAX_NAME_CHARS} characters.")
    return value.strip()


def rerun_request(value: Any, recorded_revision: Any) -> ModelRequest:
    """The model to run a saved run again on: its spec's ``model``, pinned to the revision it recorded.

    A hub model records the commit it loaded (``meta.model_revision``); running
    again asks for that commit, so a model updated on the hub since gives the
    same numbers. The bundled model, a folder and a served model have no hub
    revision to pin, so their request stays as the spec gave it. Raises
    SpecError when the spec's ``model`` is wrong.
    """
    request = parse_model(DEFAULT_NAME if value is None else value)
    pinnable = request.endpoint is None and request.name != DEFAULT_NAME
    if pinnable and isinstance(recorded_revision, str) and HUB_COMMIT.fullmatch(recorded_revision):
        return replace(request, revision=recorded_revision)
    return request
