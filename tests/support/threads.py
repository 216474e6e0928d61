"""Threads as real turns leave them, built without running the turns (for long threads).

An everyday conversation repeats: add a task, list the tasks, complete one, say thanks. Each
tool turn holds what the server saves: the user's message, the tool call's hidden record
(agent/tool_memory.py), the widget the tool showed (built by the real widget code) and the
answer. `huge_turns` adds the outliers the token budget exists for: a pasted document, a
very long answer and a tool output listing thousands of tasks.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    InferenceOptions,
    ThreadItem,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
    WidgetItem,
)

from todo_assistant.agent.tool_memory import ToolCallRecord
from todo_assistant.agent.tools import tool_result
from todo_assistant.context import RequestContext
from todo_assistant.db.table import ItemRow
from todo_assistant.ids import new_id
from todo_assistant.store.dynamo import DynamoChatKitStore
from todo_assistant.tasks.models import Task, TaskStatus
from todo_assistant.widgets.events import task_summary
from todo_assistant.widgets.tasks import (
    task_card_copy_text,
    task_card_widget,
    task_list_copy_text,
    task_list_widget,
)
from todo_assistant_dev.chores import CHORES

# A list turn shows at most this many tasks (the newest), as a user's list of open tasks would.
LISTED = 8


class ThreadBuilder:
    """Items of one thread, oldest first, one second apart."""

    def __init__(self, thread_id: str, start: datetime) -> None:
        self.thread_id = thread_id
        self.items: list[ThreadItem] = []
        self.tasks: list[Task] = []
        self._clock = start

    def _at(self) -> datetime:
        self._clock += timedelta(seconds=1)
        return self._clock

    def user(self, text: str) -> None:
        self.items.append(
            UserMessageItem(
                id=new_id("msg"),
                thread_id=self.thread_id,
                created_at=self._at(),
                content=[UserMessageTextContent(text=text)],
                attachments=[],
                inference_options=InferenceOptions(),
            )
        )

    def answer(self, text: str) -> None:
        self.items.append(
            AssistantMessageItem(
                id=new_id("msg"),
                thread_id=self.thread_id,
                created_at=self._at(),
                content=[AssistantMessageContent(text=text)],
            )
        )

    def tool(self, name: str, arguments: dict[str, object], output: str) -> None:
        record = ToolCallRecord(
            call_id=new_id("call"), name=name, arguments=json.dumps(arguments), output=output
        )
        item = record.to_item(new_id("tc"), self.thread_id)
        self.items.append(item.model_copy(update={"created_at": self._at()}))

    def widget(self, task: Task | None, heading: str) -> None:
        if task is not None:
            widget, copy = task_card_widget(task, heading), task_card_copy_text(task, heading)
        else:
            shown = self.tasks[-LISTED:]
            widget, copy = task_list_widget(shown, heading), task_list_copy_text(shown, heading)
        self.items.append(
            WidgetItem(
                id=new_id("msg"),
                thread_id=self.thread_id,
                created_at=self._at(),
                widget=widget,
                copy_text=copy,
            )
        )

    # -- everyday turns -------------------------------------------------------------------
    def add_turn(self) -> None:
        title = CHORES[len(self.tasks) % len(CHORES)].capitalize()
        now = self._clock
        task = Task(number=len(self.tasks) + 1, title=title, created_at=now, updated_at=now)
        self.tasks.append(task)
        self.user(f"Add a task to {title.lower()}")
        message = f"Added task #{task.number}: {title}"
        self.widget(task, "Task added")
        self.tool(
            "add_task",
            {"title": title},
            tool_result(True, message, task=task_summary(task), widget="task_card"),
        )
        self.answer(f"{message}.")

    def list_turn(self) -> None:
        self.user("Show me all my tasks")
        shown = self.tasks[-LISTED:]
        message = f"{len(shown)} tasks"
        self.widget(None, message.capitalize())
        self.tool(
            "list_tasks",
            {"status": "all"},
            tool_result(True, message, tasks=[task_summary(t) for t in shown], widget="task_list"),
        )
        self.answer(f"You have {message}.")

    def complete_turn(self) -> None:
        pending = [t for t in self.tasks if t.status is TaskStatus.PENDING]
        if not pending:
            self.add_turn()
            return
        task = pending[0]
        task.status = TaskStatus.COMPLETED
        self.user(f"Mark task {task.number} as complete")
        message = f"Completed task #{task.number}: {task.title}"
        self.widget(task, "Task completed")
        self.tool(
            "complete_task",
            {"task": str(task.number)},
            tool_result(True, message, task=task_summary(task), widget="task_card"),
        )
        self.answer(f"{message}.")

    def plain_turn(self) -> None:
        self.user("Thanks!")
        self.answer("You're welcome! Anything else on your list?")

    def everyday(self, count: int) -> None:
        """Turns in the everyday cycle until the thread has at least `count` items, then
        trimmed from the front to exactly `count`."""
        turns = (self.add_turn, self.add_turn, self.list_turn, self.complete_turn, self.plain_turn)
        index = 0
        while len(self.items) < count:
            turns[index % len(turns)]()
            index += 1
        del self.items[: len(self.items) - count]

    # -- outliers -------------------------------------------------------------------------
    def huge_turns(self) -> None:
        """Three turns with one huge item each (about 100-300 KB of text)."""
        paragraph = (
            "Meeting notes: the quarterly report is due on Friday; the plumber comes on "
            "Tuesday morning; remember the passport photos and the dentist's new address. "
        )
        self.user("Here are my notes, keep them in mind:\n" + paragraph * 700)
        self.answer("Got it, I'll keep your notes in mind.")
        self.user("Show me all my tasks")
        now = self._clock
        many = [
            Task(number=n, title=f"{CHORES[n % len(CHORES)]} #{n}", created_at=now, updated_at=now)
            for n in range(1, 2_001)
        ]
        self.tool(
            "list_tasks",
            {"status": "all"},
            tool_result(True, "2000 tasks", tasks=[task_summary(t) for t in many]),
        )
        self.answer("You have 2000 tasks.")
        self.user("Write me a long summary of everything")
        self.answer("Here is everything, in detail. " + paragraph * 2_000)


def everyday_thread(thread_id: str, count: int, *, huge: bool = False) -> list[ThreadItem]:
    """`count` items of an everyday conversation (oldest first); with `huge`, its newest
    seven items are three turns with one huge item each."""
    builder = ThreadBuilder(thread_id, datetime.now() - timedelta(days=1))
    builder.everyday(count - 7 if huge and count > 7 else count)
    if huge and count > 7:
        builder.huge_turns()
        del builder.items[: len(builder.items) - count]
    return builder.items


async def seed_thread(
    store: DynamoChatKitStore, ctx: RequestContext, items: list[ThreadItem], thread_id: str
) -> None:
    """Write a thread and its items as the store would have, in batches of 25."""
    await store.save_thread(
        ThreadMetadata(id=thread_id, title="A long thread", created_at=datetime.now()), ctx
    )

    def write() -> None:
        with ItemRow.batch_write() as batch:
            for item in items:
                batch.save(store.item_row(thread_id, item, ctx.user_id))

    await asyncio.to_thread(write)
