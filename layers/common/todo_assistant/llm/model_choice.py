"""The composer's model picker and tool menu: `inference_options` -> the run's overrides.

`inference_options.model` must be one of the allowed models (ALLOWED_MODELS plus the
configured one); `inference_options.tool_choice.id` must be a composer tool id (composer_options.py),
which forces the agent tool it stands for on the turn's first model call (the Agents SDK
resets a forced tool choice once a tool ran). Both are checked before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from agents import Model, ModelSettings
from chatkit.types import InferenceOptions

from todo_assistant.composer_options import COMPOSER_TOOLS_BY_ID


class UnsupportedInferenceOption(ValueError):
    """An unknown model or composer tool; answered as a 400 before anything is written."""


@dataclass
class ModelChoices:
    default_id: str
    allowed_ids: list[str]
    # Builds the model for a non-default id (the default is the agent's own model).
    build: Callable[[str], Model]
    _built: dict[str, Model] = field(default_factory=dict)

    def check(self, options: InferenceOptions, agent_tools: Iterable[str]) -> None:
        if options.model is not None and options.model not in self.allowed_ids:
            raise UnsupportedInferenceOption(
                f"Unknown model {options.model!r}; allowed: {', '.join(self.allowed_ids)}."
            )
        if options.tool_choice is not None:
            tool = COMPOSER_TOOLS_BY_ID.get(options.tool_choice.id)
            if tool is None or tool.agent_tool not in set(agent_tools):
                allowed = ", ".join(COMPOSER_TOOLS_BY_ID)
                raise UnsupportedInferenceOption(
                    f"Unknown composer tool {options.tool_choice.id!r}; allowed: {allowed}."
                )

    def model_for(self, options: InferenceOptions | None) -> Model | None:
        """The picked model, or None for the agent's default (also for a model no longer
        allowed, e.g. when retrying an old message after the allowlist changed)."""
        wanted = options.model if options else None
        if wanted is None or wanted == self.default_id or wanted not in self.allowed_ids:
            return None
        if wanted not in self._built:
            self._built[wanted] = self.build(wanted)
        return self._built[wanted]

    @staticmethod
    def model_settings_for(options: InferenceOptions | None) -> ModelSettings | None:
        """Forces the agent tool behind the picked composer tool, if any."""
        if options is None or options.tool_choice is None:
            return None
        tool = COMPOSER_TOOLS_BY_ID.get(options.tool_choice.id)
        return ModelSettings(tool_choice=tool.agent_tool) if tool else None
