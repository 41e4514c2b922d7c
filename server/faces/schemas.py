"""Templates and identification at the edge."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from server.core.clock import UtcTime


class TemplateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    person_id: str
    model_id: str
    quality: float = Field(description="the detector's confidence in the face, 0..1")
    source: str
    photo_stored: bool
    created_at: UtcTime


class EnrolledOut(TemplateOut):
    measures: dict[str, float] = Field(description="the quality gate's measurements of the photo")


class MatchOut(BaseModel):
    person_id: str
    number: str
    name: str
    score: float = Field(description="cosine similarity of the person's best template")


class IdentifyOut(BaseModel):
    outcome: Literal["accept", "look_again", "unknown"] = Field(
        description="accept: score >= τ_accept and beats the next person by the margin; unknown: below τ_unknown")
    person: MatchOut | None = Field(description="the accepted person; null unless accept")
    score: float
    margin: float
    matches: list[MatchOut] = Field(description="the best people, best first")
    model_id: str
    thresholds: dict[str, float] = Field(
        description="accept, unknown and margin used; gallery_people, the size τ_accept was chosen for, and "
                    "expected_fpir, the share of strangers expected to be accepted at it (when the model carries "
                    "calibration data)")
    quality: str = Field(description="the quality gate's verdict on the probe face")
