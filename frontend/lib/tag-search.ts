/** @-mentions in the composer: tasks found by GET /tasks?q= become ChatKit entities. */

import type { Entity } from "@openai/chatkit-react";
import type { Task, TasksApi } from "./tasks-api";

export function taskEntity(task: Pick<Task, "number" | "title">): Entity {
  return {
    id: `task-${task.number}`,
    title: `#${task.number} ${task.title}`,
    group: "Tasks",
    interactive: true,
    data: { number: String(task.number), title: task.title },
  };
}

export function createTagSearch(tasks: Pick<TasksApi, "list">, limit = 8) {
  return async (query: string): Promise<Entity[]> => {
    const found = await tasks.list({ status: "all", q: query.replace(/^[@#]/, ""), limit });
    return found.map(taskEntity);
  };
}

/** The task number an entity (from onTagSearch) stands for, if it is one. */
export function entityTaskNumber(entity: Pick<Entity, "id" | "data">): number | null {
  const raw = entity.data?.number ?? /^task-(\d+)$/.exec(entity.id)?.[1];
  const number = Number(raw);
  return Number.isInteger(number) && number > 0 ? number : null;
}
