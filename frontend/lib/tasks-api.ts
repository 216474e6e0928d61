/** The backend's /tasks REST API (the session function), with the client secret. */

import type { TaskFilter } from "./chatkit-fetch";

export type Priority = "low" | "medium" | "high";

export interface Task {
  number: number;
  title: string;
  description: string | null;
  priority: Priority;
  due_date: string | null;
  status: "pending" | "completed";
  created_at: string;
  updated_at: string;
  completed_at: string | null;
}

export interface TaskInput {
  title: string;
  description?: string | null;
  priority?: Priority;
  due_date?: string | null;
}

export type TaskPatch = Partial<TaskInput> & { status?: Task["status"] };

export class TasksApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "TasksApiError";
  }
}

async function failure(response: Response): Promise<TasksApiError> {
  let message = `request failed (${response.status})`;
  try {
    const body = (await response.json()) as { message?: unknown };
    if (typeof body.message === "string") message = body.message;
  } catch {
    // not JSON: keep the status line
  }
  return new TasksApiError(response.status, message);
}

export interface ListOptions {
  status?: TaskFilter;
  q?: string;
  limit?: number;
}

export function createTasksApi(sessionUrl: string, authorizedFetch: typeof fetch) {
  const url = (path: string) => `${sessionUrl}/tasks${path}`;
  const json = { "Content-Type": "application/json" };

  return {
    async list({ status = "all", q, limit }: ListOptions = {}): Promise<Task[]> {
      const params = new URLSearchParams({ status });
      if (q?.trim()) params.set("q", q.trim());
      if (limit) params.set("limit", String(limit));
      const response = await authorizedFetch(url(`?${params}`));
      if (!response.ok) throw await failure(response);
      const tasks = ((await response.json()) as { tasks: Task[] }).tasks;
      // A backend without ranked search ignores `limit`.
      return limit ? tasks.slice(0, limit) : tasks;
    },
    /** One task, or null when it does not exist (or is another user's). */
    async get(number: number): Promise<Task | null> {
      const response = await authorizedFetch(url(`/${number}`));
      if (response.status === 404) return null;
      if (!response.ok) throw await failure(response);
      return (await response.json()) as Task;
    },
    async create(input: TaskInput): Promise<Task> {
      const response = await authorizedFetch(url(""), {
        method: "POST",
        headers: json,
        body: JSON.stringify(input),
      });
      if (!response.ok) throw await failure(response);
      return (await response.json()) as Task;
    },
    async update(number: number, patch: TaskPatch): Promise<Task> {
      const response = await authorizedFetch(url(`/${number}`), {
        method: "PATCH",
        headers: json,
        body: JSON.stringify(patch),
      });
      if (!response.ok) throw await failure(response);
      return (await response.json()) as Task;
    },
    async remove(number: number): Promise<void> {
      const response = await authorizedFetch(url(`/${number}`), { method: "DELETE" });
      if (!response.ok) throw await failure(response);
    },
  };
}

export type TasksApi = ReturnType<typeof createTasksApi>;
