"use client";

import { useState } from "react";
import type { Priority, Task, TaskInput } from "@/lib/tasks-api";

export function TaskEditor({
  task,
  onSave,
  onCancel,
}: {
  task: Task;
  onSave: (changes: TaskInput) => Promise<void>;
  onCancel: () => void;
}) {
  const [title, setTitle] = useState(task.title);
  const [description, setDescription] = useState(task.description ?? "");
  const [priority, setPriority] = useState<Priority>(task.priority);
  const [due, setDue] = useState(task.due_date ?? "");
  return (
    <form
      className="editor"
      aria-label={`Edit task ${task.number}`}
      onSubmit={(event) => {
        event.preventDefault();
        void onSave({ title, description: description || null, priority, due_date: due || null });
      }}
    >
      <h3>Edit #{task.number}</h3>
      <label>
        Title <input name="title" value={title} onChange={(e) => setTitle(e.target.value)} required />
      </label>
      <label>
        Description
        <textarea name="description" value={description} onChange={(e) => setDescription(e.target.value)} />
      </label>
      <div className="row">
        <label>
          Priority{" "}
          <select value={priority} onChange={(e) => setPriority(e.target.value as Priority)}>
            <option value="low">low</option>
            <option value="medium">medium</option>
            <option value="high">high</option>
          </select>
        </label>
        <label>
          Due <input type="date" value={due} onChange={(e) => setDue(e.target.value)} />
        </label>
      </div>
      <div className="row">
        <button type="submit">Save</button>
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
