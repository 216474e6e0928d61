"""The models the agent can run on: OpenAI (or any compatible server), LiteLLM, or local.

Each builder takes plain values; which one runs, with which values, is the configuration's
choice (wiring/chatkit.py).
"""

from __future__ import annotations

import os

from agents import Model, OpenAIChatCompletionsModel, OpenAIResponsesModel
from openai import AsyncOpenAI

from todo_assistant.config import ConfigurationError


def local_model(*, name: str, delay_seconds: float) -> Model:
    # The offline model and its grammar (llm/local/): imported only where configured, as
    # LiteLLM below.
    from todo_assistant.llm.local.model import LocalTodoModel

    return LocalTodoModel(delay_seconds=delay_seconds, name=name)


def litellm_model(*, name: str) -> Model:
    # LiteLLM otherwise downloads its model price list at import: a network call (with
    # retries) in every cold start; the copy it ships is enough to call a model.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        from agents.extensions.models.litellm_model import LitellmModel
    except ImportError as error:  # the litellm extra is optional
        raise ConfigurationError(
            "MODEL_PROVIDER=litellm needs the litellm extra: pip install 'todo-assistant[litellm]'"
        ) from error
    return LitellmModel(model=name)


def openai_model(
    *,
    name: str,
    api: str,
    api_key: str | None,
    base_url: str | None,
    max_retries: int,
    timeout_seconds: float,
) -> Model:
    """A model on OpenAI's Responses API, or on Chat Completions (`api="chat_completions"`)."""
    if api_key is None and base_url is None:
        raise ConfigurationError(
            "MODEL_PROVIDER=openai needs OPENAI_API_KEY, OPENAI_API_KEY_SECRET_ID or OPENAI_BASE_URL"
        )
    client = AsyncOpenAI(
        api_key=api_key or "none",
        base_url=base_url,
        # The client retries connection errors, 408/409/429 and 5xx itself, waiting as long as
        # Retry-After asks (when reasonable): bounded here, never re-implemented.
        max_retries=max_retries,
        timeout=timeout_seconds,
    )
    if api == "chat_completions":
        return OpenAIChatCompletionsModel(model=name, openai_client=client)
    return OpenAIResponsesModel(model=name, openai_client=client)
