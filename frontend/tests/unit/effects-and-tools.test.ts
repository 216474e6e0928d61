import { describe, expect, it } from "vitest";
import { loadBackendConfig, DEFAULT_CONFIG, ConfigUnreachableError } from "@/lib/backend-config";
import { buildChatKitOptions } from "@/lib/chatkit-options";
import { createClientToolHandler, type DashboardControls } from "@/lib/client-tools";
import { createEffectHandler, parseTasksChanged, type TasksChanged } from "@/lib/effects";
import { createTagSearch, entityTaskNumber, taskEntity } from "@/lib/tag-search";
import { createTasksApi } from "@/lib/tasks-api";

describe("tasks_changed effect", () => {
  it("refreshes the panel for every task action", () => {
    const changes: TasksChanged[] = [];
    const onEffect = createEffectHandler((change) => changes.push(change));
    for (const action of ["created", "completed", "updated", "deleted", "reopened"]) {
      onEffect({ name: "tasks_changed", data: { action, task: { number: 4, title: "Milk" } } });
    }
    expect(changes.map((c) => c.action)).toEqual(["created", "completed", "updated", "deleted", "reopened"]);
    expect(changes[0].task).toEqual({ number: 4, title: "Milk" });
  });

  it("ignores other effects and malformed payloads", () => {
    const changes: TasksChanged[] = [];
    const onEffect = createEffectHandler((change) => changes.push(change));
    onEffect({ name: "confetti", data: { action: "created", task: { number: 1 } } });
    onEffect({ name: "tasks_changed" });
    onEffect({ name: "tasks_changed", data: { action: "exploded", task: { number: 1 } } });
    onEffect({ name: "tasks_changed", data: { action: "created", task: { title: "no number" } } });
    expect(changes).toEqual([]);
    expect(parseTasksChanged({ name: "tasks_changed", data: { action: "created" } })).toBeNull();
  });
});

describe("tag search", () => {
  it("maps tasks to entities", () => {
    expect(taskEntity({ number: 12, title: "File taxes" })).toEqual({
      id: "task-12",
      title: "#12 File taxes",
      group: "Tasks",
      interactive: true,
      data: { number: "12", title: "File taxes" },
    });
    expect(entityTaskNumber({ id: "task-12", data: { number: "12" } })).toBe(12);
    expect(entityTaskNumber({ id: "task-7" })).toBe(7);
    expect(entityTaskNumber({ id: "person-1" })).toBeNull();
  });

  it("calls GET /tasks?q=&limit= with the bearer's fetch and maps the ranked answer", async () => {
    const urls: URL[] = [];
    const api = createTasksApi("http://session.test", async (input) => {
      urls.push(new URL(String(input)));
      const tasks = Array.from({ length: 10 }, (_, i) => ({ number: i + 1, title: `Task ${i + 1}` }));
      return new Response(JSON.stringify({ tasks }), { status: 200 });
    });
    const entities = await createTagSearch(api, 3)("@tax");
    expect(urls[0].pathname).toBe("/tasks");
    expect(Object.fromEntries(urls[0].searchParams)).toEqual({ status: "all", q: "tax", limit: "3" });
    // A backend that ignores `limit` still yields at most `limit` entities.
    expect(entities.map((e) => e.id)).toEqual(["task-1", "task-2", "task-3"]);
  });

  it("surfaces the backend's error message", async () => {
    const api = createTasksApi("http://session.test", async () =>
      new Response(JSON.stringify({ error: "invalid", message: "q too long" }), { status: 400 }),
    );
    await expect(createTagSearch(api)("x")).rejects.toThrow("q too long");
  });
});

function recordingControls(existing: number[]) {
  const log: string[] = [];
  const controls: DashboardControls = {
    showTasks: (filter, query) => void log.push(`show ${filter ?? "-"} ${query ?? "-"}`),
    selectTask: async (n) => (log.push(`select ${n}`), existing.includes(n)),
    openTaskEditor: async (n) => (log.push(`edit ${n}`), existing.includes(n)),
  };
  return { log, controls };
}

describe("client tools", () => {
  it("carry out show_tasks, select_task and open_task_editor", async () => {
    const { log, controls } = recordingControls([2]);
    const tool = createClientToolHandler(controls);
    expect(await tool({ name: "show_tasks", params: { filter: "completed", query: "tax" } })).toEqual({ ok: true });
    expect(await tool({ name: "show_tasks", params: {} })).toEqual({ ok: true });
    expect(await tool({ name: "select_task", params: { number: 2 } })).toEqual({ ok: true });
    expect(await tool({ name: "open_task_editor", params: { number: "2" } })).toEqual({ ok: true });
    expect(log).toEqual(["show completed tax", "show - -", "select 2", "edit 2"]);
  });

  it("answer {ok:false, error} for bad input, missing tasks and unknown tools, changing nothing", async () => {
    const { log, controls } = recordingControls([]);
    const tool = createClientToolHandler(controls);
    expect(await tool({ name: "show_tasks", params: { filter: "archived" } })).toMatchObject({ ok: false });
    expect(await tool({ name: "select_task", params: { number: -1 } })).toMatchObject({ ok: false });
    expect(log).toEqual([]);
    expect(await tool({ name: "open_task_editor", params: { number: 9 } })).toEqual({
      ok: false,
      error: "task 9 not found",
    });
    expect(await tool({ name: "launch_rocket", params: {} })).toEqual({
      ok: false,
      error: "unknown client tool launch_rocket",
    });
  });
});

describe("ChatKit options", () => {
  const wiring = (config = DEFAULT_CONFIG) => {
    const { log, controls } = recordingControls([5]);
    const options = buildChatKitOptions({
      chatkitUrl: "http://chatkit.test",
      domainKey: "local-dev",
      config,
      fetch: async () => new Response(),
      tagSearch: async () => [],
      controls,
      onTasksChanged: () => undefined,
      onThreadChange: () => undefined,
      onError: () => undefined,
    });
    return { log, options };
  };

  it("point api.url at the chatkit function and turn attachments off without /config", () => {
    const { options } = wiring();
    expect(options.api).toMatchObject({ url: "http://chatkit.test/chatkit", domainKey: "local-dev" });
    expect(options.composer?.attachments).toEqual({ enabled: false });
    expect(options.composer?.models).toBeUndefined();
  });

  it("take the model picker, tools and attachments from /config", () => {
    const { options } = wiring({
      auth_mode: "dev",
      models: [{ id: "fast", label: "Fast", default: true }],
      composer_tools: [{ id: "plan", label: "Plan my day", icon: "calendar" }],
      attachments: { enabled: true, max_bytes: 1024, accept: { "image/png": [".png"] } },
    });
    expect(options.composer?.models).toEqual([{ id: "fast", label: "Fast", default: true }]);
    expect(options.composer?.tools?.[0].id).toBe("plan");
    expect(options.composer?.attachments).toEqual({
      enabled: true,
      maxSize: 1024,
      accept: { "image/png": [".png"] },
    });
  });

  it("open the editor from the task.edit widget action only", async () => {
    const { log, options } = wiring();
    await options.widgets?.onAction?.({ type: "task.edit", payload: { number: 5 } }, { id: "w", widget: {} as never });
    await options.widgets?.onAction?.({ type: "task.complete", payload: { number: 5 } }, { id: "w", widget: {} as never });
    expect(log).toEqual(["edit 5"]);
  });
});

describe("backend /config", () => {
  it("falls back to defaults when the route is absent", async () => {
    const config = await loadBackendConfig("http://s.test", async () => new Response("", { status: 404 }));
    expect(config).toEqual(DEFAULT_CONFIG);
  });

  it("reads the auth mode and composer settings", async () => {
    const config = await loadBackendConfig("http://s.test", async () =>
      new Response(JSON.stringify({ auth_mode: "dev", models: [{ id: "m", label: "M" }] })),
    );
    expect(config.auth_mode).toBe("dev");
    expect(config.models).toEqual([{ id: "m", label: "M" }]);
    expect(config.attachments.enabled).toBe(false);
  });

  it("tells an unreachable backend apart", async () => {
    await expect(
      loadBackendConfig("http://s.test", async () => {
        throw new TypeError("fetch failed");
      }),
    ).rejects.toBeInstanceOf(ConfigUnreachableError);
  });
});
