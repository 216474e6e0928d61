/** ChatKit client effects sent by the backend while a turn streams. */

import type { Task } from "./tasks-api";

export type TaskAction = "created" | "completed" | "updated" | "deleted" | "reopened";

export interface TasksChanged {
  action: TaskAction;
  task: Partial<Task> & { number: number };
}

const ACTIONS = new Set<string>(["created", "completed", "updated", "deleted", "reopened"]);

/** The `tasks_changed` payload, or null for any other or malformed effect. */
export function parseTasksChanged(effect: {
  name: string;
  data?: Record<string, unknown>;
}): TasksChanged | null {
  if (effect.name !== "tasks_changed" || !effect.data) return null;
  const { action, task } = effect.data;
  if (typeof action !== "string" || !ACTIONS.has(action)) return null;
  if (!task || typeof task !== "object" || typeof (task as Task).number !== "number") return null;
  return { action: action as TaskAction, task: task as TasksChanged["task"] };
}

/** ChatKit's onEffect: a task change reloads the task panel (no polling). */
export function createEffectHandler(onTasksChanged: (change: TasksChanged) => void) {
  return (effect: { name: string; data?: Record<string, unknown> }) => {
    const change = parseTasksChanged(effect);
    if (change) onTasksChanged(change);
  };
}
