"""The one error shape, `{"error": {"type", "message"}}`, and the handlers that make it.

`OverlayError` subclasses map to their `http_status` (PathOutsideVault 400,
NoteNotFound 404, StoreLocked 409, ModelUnavailable 503, …) with the class name as
`type`; FastAPI's own failures (401, 404, 413, 422), the limits' (429, 504) and
unexpected ones (500, logged with their traceback) take the same shape. OpenAI clients
read it too: they show `error.message`.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from overlay.errors import OverlayError

log = logging.getLogger("overlay.server")


class ErrorDetail(BaseModel):
    type: str = Field(description="The error's class, e.g. 'NoteNotFound', 'Unauthorized'.")
    message: str = Field(description="What went wrong, for people.")


class ErrorBody(BaseModel):
    error: ErrorDetail


WHY = {
    400: "A path outside the vault, an empty question, or a request Overlay cannot serve.",
    401: "Missing or wrong bearer token.",
    404: "No such note, heading, model or adapter.",
    409: "Another process is writing the index.",
    413: "The request body is over server.max_body_bytes, or embeddings over their limits.",
    422: "The request does not match this schema.",
    429: "Too many answers running and queued; retry after Retry-After seconds.",
    500: "An unexpected failure; the server log has the traceback.",
    503: "The model or embedder cannot be loaded or reached.",
    504: "The answer did not begin within the route's time limit (server.*_timeout_s).",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these status codes, all in the one error shape."""
    return {code: {"model": ErrorBody, "description": WHY[code]} for code in codes}


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message}}


def status_type(code: int) -> str:
    """'Unauthorized', 'NotFound', 'RequestEntityTooLarge', … for a status code."""
    return HTTPStatus(code).phrase.replace(" ", "").replace("-", "")


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OverlayError)
    async def overlay_error(request: Request, error: OverlayError) -> JSONResponse:
        return JSONResponse(error_body(type(error).__name__, error.message), error.http_status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        body = error_body(status_type(error.status_code), str(error.detail))
        return JSONResponse(body, error.status_code, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()]
        return JSONResponse(error_body("InvalidRequest", "; ".join(problems)), 422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        message = f"{type(error).__name__}; see the server log"
        return JSONResponse(error_body("InternalError", message), 500)
