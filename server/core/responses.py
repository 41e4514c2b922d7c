"""Answers serialised once. An endpoint that returns a ``Response`` is passed through by FastAPI as it
is: its ``response_model`` still documents it, but the answer is not validated a second time (in a
worker thread, for a ``def`` endpoint) nor encoded again. For hot read paths."""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """``model`` as JSON, by pydantic's serialiser (its fields' own serialisers: times as ``iso``)."""
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")
