"""Request bodies of the reward server (pydantic; imported only when a server is built)."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SolutionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    problem: str
    steps: list[str] = Field(min_length=1)


class ScoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    solutions: list[SolutionIn] | None = None
    problem: str | None = None
    steps: list[str] | None = None
    aggregation: str | list[str] | None = None


class RewardIn(BaseModel):
    query: list[str] = Field(min_length=1)
    prompts: list[str] | None = None
    labels: list[Any] | None = None
