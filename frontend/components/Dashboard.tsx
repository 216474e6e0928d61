"use client";

import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { BackendConfig } from "@/lib/backend-config";
import type { PageContext, TaskFilter } from "@/lib/chatkit-fetch";
import type { DashboardControls } from "@/lib/client-tools";
import type { TasksChanged } from "@/lib/effects";
import { BackendUnreachableError, type SessionAuth } from "@/lib/session";
import { settings } from "@/lib/settings";
import { createTasksApi, type Priority, type Task, type TaskInput } from "@/lib/tasks-api";
import { ChatPanel } from "./ChatPanel";
import { TaskEditor } from "./TaskEditor";

const FILTERS: TaskFilter[] = ["pending", "completed", "all"];

export function Dashboard({
  auth,
  config,
  user,
  onSignOut,
  onUnreachable,
}: {
  auth: SessionAuth;
  config: BackendConfig;
  user: string;
  onSignOut: () => void;
  onUnreachable: () => void;
}) {
  const api = useMemo(() => createTasksApi(settings.sessionUrl, auth.authorizedFetch), [auth]);
  const [filter, setFilter] = useState<TaskFilter>("pending");
  const [query, setQuery] = useState("");
  const [tasks, setTasks] = useState<Task[] | null>(null);
  const [selected, setSelected] = useState<number | null>(null);
  const [editing, setEditing] = useState<Task | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [reloads, setReloads] = useState(0);
  const [lastChange, setLastChange] = useState<TasksChanged | null>(null);
  const latest = useRef(0);

  const pageContext = useRef<PageContext>({ view: "board", filter, query, selectedTask: null });
  pageContext.current = {
    view: editing ? "editor" : "board",
    filter,
    query,
    selectedTask: editing?.number ?? selected,
  };

  const fail = useCallback(
    (reason: unknown) => {
      if (reason instanceof BackendUnreachableError) onUnreachable();
      setError(reason instanceof Error ? reason.message : String(reason));
    },
    [onUnreachable],
  );

  const reload = useCallback(() => setReloads((n) => n + 1), []);

  useEffect(() => {
    const request = ++latest.current;
    const timer = setTimeout(() => {
      api.list({ status: filter, q: query }).then(
        (found) => {
          if (request !== latest.current) return; // a newer filter or search won
          setTasks(found);
          setError(null);
        },
        (reason: unknown) => request === latest.current && fail(reason),
      );
    }, query ? 200 : 0);
    return () => clearTimeout(timer);
  }, [api, filter, query, reloads, fail]);

  const run = useCallback(
    async (change: () => Promise<unknown>) => {
      try {
        await change();
        reload();
      } catch (reason) {
        fail(reason);
      }
    },
    [fail, reload],
  );

  // The agent's client tools drive the board.
  const controls = useMemo<DashboardControls>(() => {
    const reveal = async (number: number) => {
      const task = await api.get(number);
      if (!task) return null;
      setSelected(number);
      setFilter((current) => (current === "all" || current === task.status ? current : "all"));
      setQuery("");
      return task;
    };
    return {
      showTasks(nextFilter, nextQuery) {
        if (nextFilter) setFilter(nextFilter);
        if (nextQuery !== undefined) setQuery(nextQuery);
        setEditing(null);
      },
      async selectTask(number) {
        return (await reveal(number)) !== null;
      },
      async openTaskEditor(number) {
        const task = await reveal(number);
        if (task) setEditing(task);
        return task !== null;
      },
    };
  }, [api]);

  const onTasksChanged = useCallback(
    (change: TasksChanged) => {
      setLastChange(change);
      reload();
    },
    [reload],
  );

  return (
    <div className="dashboard">
      <section className="board" aria-label="Tasks">
        <header className="board-header">
          <h1>Tasks</h1>
          <span className="user" data-testid="signed-in-user">
            {user}
          </span>
          <button type="button" className="secondary" onClick={onSignOut}>
            Sign out
          </button>
        </header>

        <AddTask onAdd={(input) => run(() => api.create(input))} />

        <div className="toolbar">
          <div role="tablist" aria-label="Filter">
            {FILTERS.map((name) => (
              <button
                key={name}
                role="tab"
                type="button"
                aria-selected={filter === name}
                onClick={() => setFilter(name)}
              >
                {name}
              </button>
            ))}
          </div>
          <input
            type="search"
            aria-label="Search tasks"
            placeholder="Search"
            value={query}
            onChange={(event) => setQuery(event.target.value)}
          />
        </div>

        {error ? (
          <p className="error" role="alert">
            {error}
          </p>
        ) : null}
        {lastChange ? (
          <p className="last-change" data-testid="last-change">
            Assistant {lastChange.action} #{lastChange.task.number}
          </p>
        ) : null}

        {editing ? (
          <TaskEditor
            key={editing.number}
            task={editing}
            onCancel={() => setEditing(null)}
            onSave={async (changes) => {
              await run(() => api.update(editing.number, changes));
              setEditing(null);
            }}
          />
        ) : null}

        {tasks === null ? (
          <p className="muted">Loading tasks…</p>
        ) : tasks.length === 0 ? (
          <p className="muted" data-testid="empty">
            No {filter === "all" ? "" : filter} tasks{query ? ` matching “${query}”` : ""}.
          </p>
        ) : (
          <ul className="tasks">
            {tasks.map((task) => (
              <li
                key={task.number}
                data-task-number={task.number}
                data-status={task.status}
                className={`task ${task.status} ${selected === task.number ? "selected" : ""}`}
                onClick={() => setSelected(task.number)}
              >
                <input
                  type="checkbox"
                  aria-label={`Complete #${task.number} ${task.title}`}
                  checked={task.status === "completed"}
                  onChange={(event) =>
                    void run(() =>
                      api.update(task.number, {
                        status: event.target.checked ? "completed" : "pending",
                      }),
                    )
                  }
                />
                <span className="number">#{task.number}</span>
                <span className="title">{task.title}</span>
                <span className={`priority ${task.priority}`}>{task.priority}</span>
                {task.due_date ? <span className="due">due {task.due_date}</span> : null}
                <button
                  type="button"
                  className="link"
                  aria-label={`Edit #${task.number}`}
                  onClick={() => setEditing(task)}
                >
                  Edit
                </button>
                <button
                  type="button"
                  className="link danger"
                  aria-label={`Delete #${task.number}`}
                  onClick={() => void run(() => api.remove(task.number))}
                >
                  Delete
                </button>
              </li>
            ))}
          </ul>
        )}
      </section>

      <ChatPanel
        auth={auth}
        config={config}
        tasksApi={api}
        controls={controls}
        pageContext={pageContext}
        onTasksChanged={onTasksChanged}
        onUnreachable={onUnreachable}
      />
    </div>
  );
}

function AddTask({ onAdd }: { onAdd: (input: TaskInput) => Promise<void> }) {
  const [title, setTitle] = useState("");
  const [priority, setPriority] = useState<Priority>("medium");
  const [due, setDue] = useState("");
  return (
    <form
      className="add"
      aria-label="Add a task"
      onSubmit={(event) => {
        event.preventDefault();
        if (!title.trim()) return;
        void onAdd({ title: title.trim(), priority, due_date: due || null }).then(() => {
          setTitle("");
          setDue("");
        });
      }}
    >
      <input
        aria-label="New task"
        placeholder="Add a task…"
        value={title}
        onChange={(event) => setTitle(event.target.value)}
      />
      <select aria-label="Priority" value={priority} onChange={(e) => setPriority(e.target.value as Priority)}>
        <option value="low">low</option>
        <option value="medium">medium</option>
        <option value="high">high</option>
      </select>
      <input type="date" aria-label="Due date" value={due} onChange={(e) => setDue(e.target.value)} />
      <button type="submit">Add</button>
    </form>
  );
}
