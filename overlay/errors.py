"""Overlay's expected failures, turned into messages only at the edges.

    OverlayError
    ├── ConfigError          settings that cannot be loaded or make no sense
    │   ├── PairNotFound     a pair id (or prefix) that names no training pair
    │   ├── RunNotFound      a run id (or prefix) that names no training run
    │   └── LogEntryNotFound an id that names no answer in the conversation log
    ├── InvalidQuestion      a question chat cannot take (an empty one)
    ├── VaultNotFound        no vault named, or the named folder is not there
    ├── PathOutsideVault     a requested path escapes the vault
    ├── NoteNotFound         a path or title that names no note
    ├── StoreLocked          another process is writing the index
    ├── StoreError           the index cannot be opened or is inconsistent
    ├── ModelUnavailable     an embedder or LLM cannot be loaded or reached
    ├── TrainingFailed       training stopped and its recoveries did not help
    └── DependencyMissing    an optional package is not installed

The CLI prints `error: <message>` and exits with `exit_code`; the HTTP server
maps each class to a status code in one handler.
"""

from __future__ import annotations


class OverlayError(Exception):
    exit_code = 1
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(OverlayError):
    exit_code = 2
    http_status = 400


class PairNotFound(ConfigError):
    http_status = 404


class RunNotFound(ConfigError):
    http_status = 404


class LogEntryNotFound(ConfigError):
    http_status = 404


class InvalidQuestion(OverlayError):
    exit_code = 2
    http_status = 400


class VaultNotFound(OverlayError):
    exit_code = 2
    http_status = 404


class PathOutsideVault(OverlayError):
    exit_code = 2
    http_status = 400


class NoteNotFound(OverlayError):
    exit_code = 2
    http_status = 404


class StoreLocked(OverlayError):
    exit_code = 3
    http_status = 409


class StoreError(OverlayError):
    exit_code = 3
    http_status = 500


class ModelUnavailable(OverlayError):
    exit_code = 4
    http_status = 503


class TrainingFailed(OverlayError):
    exit_code = 5
    http_status = 500


class DependencyMissing(OverlayError):
    exit_code = 4
    http_status = 501

    def __init__(self, package: str, purpose: str, extra: str | None = None) -> None:
        hint = f"pip install 'overlay[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{purpose} needs the '{package}' package: {hint}")
        self.package = package
