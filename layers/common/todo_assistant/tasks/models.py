"""Task data types shared by the agent tools and the REST API."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator


class TaskStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2_000)]


class Task(BaseModel):
    number: int = Field(description="Per-user task number: 1, 2, 3 ... never reused")
    title: str
    description: str | None = None
    priority: Priority = Priority.MEDIUM
    due_date: date | None = None
    status: TaskStatus = TaskStatus.PENDING
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    description: Description | None = None
    priority: Priority = Priority.MEDIUM
    due_date: date | None = None

    @field_validator("description")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None


class TaskPatch(BaseModel):
    """Fields to change; absent fields stay as they are (explicit null clears optional ones)."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Description | None = None
    priority: Priority | None = None
    due_date: date | None = None
    status: TaskStatus | None = None

    @field_validator("description")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    def is_empty(self) -> bool:
        return not self.model_fields_set


class StatusFilter(StrEnum):
    ALL = "all"
    PENDING = "pending"
    COMPLETED = "completed"
