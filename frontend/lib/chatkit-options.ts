/** Everything ChatKit is configured with, built from the settings, /config and the dashboard. */

import type { Entity, UseChatKitOptions } from "@openai/chatkit-react";
import type { BackendConfig } from "./backend-config";
import { createClientToolHandler, type DashboardControls } from "./client-tools";
import { createEffectHandler, type TasksChanged } from "./effects";
import { entityTaskNumber } from "./tag-search";

export interface ChatKitWiring {
  chatkitUrl: string;
  domainKey: string;
  config: BackendConfig;
  /** createChatKitFetch(...): bearer, renewal, page context, cancel on abort. */
  fetch: typeof fetch;
  tagSearch: (query: string) => Promise<Entity[]>;
  controls: DashboardControls;
  onTasksChanged: (change: TasksChanged) => void;
  onThreadChange: (threadId: string | null) => void;
  onError: (error: Error) => void;
}

export function buildChatKitOptions(wiring: ChatKitWiring): UseChatKitOptions {
  const { config, controls } = wiring;
  const attachments = config.attachments;
  return {
    api: {
      url: `${wiring.chatkitUrl}/chatkit`,
      domainKey: wiring.domainKey,
      fetch: wiring.fetch,
      ...(attachments.enabled ? { uploadStrategy: { type: "two_phase" as const } } : {}),
    },
    theme: { colorScheme: "light", radius: "round", density: "compact" },
    header: { title: { text: "Assistant" } },
    history: { enabled: true },
    startScreen: {
      greeting: "What should we get done?",
      prompts: [
        { label: "What's pending?", prompt: "What's pending?", icon: "calendar" },
        { label: "Add a task", prompt: "Add a task to buy groceries", icon: "plus" },
        { label: "Show all my tasks", prompt: "Show me all my tasks", icon: "book-open" },
      ],
    },
    composer: {
      placeholder: "Ask about your tasks, @ to mention one",
      ...(config.models.length ? { models: config.models } : {}),
      ...(config.composer_tools.length ? { tools: config.composer_tools } : {}),
      attachments: attachments.enabled
        ? {
            enabled: true,
            ...(attachments.max_bytes ? { maxSize: attachments.max_bytes } : {}),
            ...(Object.keys(attachments.accept).length ? { accept: attachments.accept } : {}),
          }
        : { enabled: false },
    },
    entities: {
      onTagSearch: wiring.tagSearch,
      showComposerMenu: true,
      onClick: (entity) => {
        const number = entityTaskNumber(entity);
        if (number !== null) void controls.selectTask(number);
      },
    },
    widgets: {
      // Widget buttons are handled by the server, except task.edit, handled here.
      onAction: async (action) => {
        if (action.type !== "task.edit") return;
        const number = Number(action.payload?.number);
        if (Number.isInteger(number)) await controls.openTaskEditor(number);
      },
    },
    onClientTool: createClientToolHandler(controls),
    onEffect: createEffectHandler(wiring.onTasksChanged),
    onThreadChange: ({ threadId }) => wiring.onThreadChange(threadId),
    onError: ({ error }) => wiring.onError(error),
  };
}
