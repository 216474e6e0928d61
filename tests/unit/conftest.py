"""Unit-tier fixtures: the test user's request context, the task service on moto and the
ChatKit store on each DynamoDB backend."""

from __future__ import annotations

import pytest

from todo_assistant.config import Settings
from todo_assistant.context import RequestContext
from todo_assistant.store.dynamo import DynamoChatKitStore
from todo_assistant.tasks.service import TaskService
from todo_assistant.wiring.chatkit import build_store
from todo_assistant.wiring.shared import build_task_service


@pytest.fixture
def ctx(user_id: str) -> RequestContext:
    return RequestContext(user_id=user_id)


@pytest.fixture
def tasks(moto_settings: Settings) -> TaskService:
    return build_task_service(moto_settings)


@pytest.fixture
def store(backend_settings: Settings) -> DynamoChatKitStore:
    return build_store(backend_settings)
