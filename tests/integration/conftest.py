"""Fixtures of the integration tests: a real vLLM server and the SmolLM2 folder it serves."""

from vllm_server import smollm2_folder, vllm_server

__all__ = ["smollm2_folder", "vllm_server"]
