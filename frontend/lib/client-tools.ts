/** Client tools the agent may call: they drive the dashboard and answer {ok} or {ok, error}. */

import type { TaskFilter } from "./chatkit-fetch";

export interface DashboardControls {
  showTasks(filter: TaskFilter | undefined, query: string | undefined): void;
  /** Both answer false when the task does not exist. */
  selectTask(number: number): Promise<boolean>;
  openTaskEditor(number: number): Promise<boolean>;
}

type ToolResult = { ok: true } | { ok: false; error: string };

const FILTERS = new Set(["all", "pending", "completed"]);

function taskNumber(params: Record<string, unknown>): number | null {
  const number = Number(params.number);
  return Number.isInteger(number) && number > 0 ? number : null;
}

export function createClientToolHandler(controls: DashboardControls) {
  return async (call: { name: string; params: Record<string, unknown> }): Promise<ToolResult> => {
    const { name, params } = call;
    switch (name) {
      case "show_tasks": {
        const { filter, query } = params;
        if (filter !== undefined && (typeof filter !== "string" || !FILTERS.has(filter))) {
          return { ok: false, error: `unknown filter ${JSON.stringify(filter)}` };
        }
        if (query !== undefined && typeof query !== "string") {
          return { ok: false, error: "query must be a string" };
        }
        controls.showTasks(filter as TaskFilter | undefined, query);
        return { ok: true };
      }
      case "select_task":
      case "open_task_editor": {
        const number = taskNumber(params);
        if (number === null) return { ok: false, error: "number must be a positive integer" };
        const found = await (name === "select_task"
          ? controls.selectTask(number)
          : controls.openTaskEditor(number));
        return found ? { ok: true } : { ok: false, error: `task ${number} not found` };
      }
      default:
        return { ok: false, error: `unknown client tool ${name}` };
    }
  };
}
