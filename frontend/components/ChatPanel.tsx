"use client";

import { ChatKit, useChatKit } from "@openai/chatkit-react";
import { useMemo, useRef, type MutableRefObject } from "react";
import type { BackendConfig } from "@/lib/backend-config";
import { createChatKitFetch, type PageContext } from "@/lib/chatkit-fetch";
import { buildChatKitOptions } from "@/lib/chatkit-options";
import type { DashboardControls } from "@/lib/client-tools";
import type { TasksChanged } from "@/lib/effects";
import { BackendUnreachableError, type SessionAuth } from "@/lib/session";
import { settings } from "@/lib/settings";
import { createTagSearch } from "@/lib/tag-search";
import type { TasksApi } from "@/lib/tasks-api";

export interface ChatPanelProps {
  auth: SessionAuth;
  config: BackendConfig;
  tasksApi: TasksApi;
  controls: DashboardControls;
  pageContext: MutableRefObject<PageContext>;
  onTasksChanged: (change: TasksChanged) => void;
  onUnreachable: () => void;
}

export function ChatPanel(props: ChatPanelProps) {
  const { auth, config, tasksApi, controls, pageContext, onTasksChanged, onUnreachable } = props;
  const threadId = useRef<string | null>(null);

  const chatkitFetch = useMemo(
    () =>
      createChatKitFetch({
        authorizedFetch: auth.authorizedFetch,
        chatkitUrl: settings.chatkitUrl,
        pageContext: () => pageContext.current,
        currentThreadId: () => threadId.current,
      }),
    [auth, pageContext],
  );

  const options = buildChatKitOptions({
    chatkitUrl: settings.chatkitUrl,
    domainKey: settings.domainKey,
    config,
    fetch: chatkitFetch,
    tagSearch: createTagSearch(tasksApi),
    controls,
    onTasksChanged,
    onThreadChange: (id) => {
      threadId.current = id;
    },
    onError: (error) => {
      if (error instanceof BackendUnreachableError || error?.name === "BackendUnreachableError") {
        onUnreachable();
      }
    },
  });
  const { control } = useChatKit(options);

  return (
    <section className="chat" aria-label="Assistant">
      <ChatKit control={control} className="chatkit" />
    </section>
  );
}
