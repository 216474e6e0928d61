"""Which model the agent runs on: OpenAI (or any compatible server), LiteLLM, or local."""

from __future__ import annotations

import os

from agents import Model, OpenAIChatCompletionsModel, OpenAIResponsesModel
from openai import AsyncOpenAI

from todo_assistant.config import ConfigurationError, Settings
from todo_assistant.secrets import openai_api_key


def build_model(settings: Settings, model_id: str | None = None) -> Model:
    """The configured model, or the allowed model `model_id` of the same provider."""
    provider = settings.resolved_model_provider
    if provider == "local":
        # The offline model and its grammar (local_model, local_composer, intents, dates):
        # imported only where configured, as LiteLLM below.
        from todo_assistant.agent.local_model import LocalTodoModel

        return LocalTodoModel(
            delay_seconds=settings.local_model_delay_ms / 1000,
            name=model_id or settings.default_model,
        )
    if provider == "litellm":
        # LiteLLM otherwise downloads its model price list at import: a network call (with
        # retries) in every cold start; the copy it ships is enough to call a model.
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        try:
            from agents.extensions.models.litellm_model import LitellmModel
        except ImportError as error:  # the litellm extra is optional
            raise ConfigurationError(
                "MODEL_PROVIDER=litellm needs the litellm extra: pip install 'todo-assistant[litellm]'"
            ) from error
        return LitellmModel(model=model_id or settings.litellm_model)
    api_key = openai_api_key(settings)
    if api_key is None and settings.openai_base_url is None:
        raise ConfigurationError(
            "MODEL_PROVIDER=openai needs OPENAI_API_KEY, OPENAI_API_KEY_SECRET_ID or OPENAI_BASE_URL"
        )
    client = AsyncOpenAI(
        api_key=api_key.get_secret_value() if api_key else "none",
        base_url=settings.openai_base_url,
        # The client retries connection errors, 408/409/429 and 5xx itself, waiting as long as
        # Retry-After asks (when reasonable): bounded here, never re-implemented.
        max_retries=settings.openai_max_retries,
        timeout=settings.openai_timeout_seconds,
    )
    name = model_id or settings.openai_model
    if settings.openai_api == "chat_completions":
        return OpenAIChatCompletionsModel(model=name, openai_client=client)
    return OpenAIResponsesModel(model=name, openai_client=client)
