"""Write the task widgets' `.widget` files from the readable Jinja templates below.

    python scripts/build_widget_templates.py          # rewrite the files
    python scripts/build_widget_templates.py --check  # exit 1 when a file is out of date

A `.widget` file (the format ChatKit Studio exports) holds the template as one JSON string;
this keeps the source readable. Every action is spelled out in full (handler, loading
behaviour, streaming) so a streamed widget and the same widget read back from the store are
identical.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "layers/common/todo_assistant/widgets"


def squash(template: str) -> str:
    """Drop the newlines and indentation between JSON tokens."""
    return re.sub(r"\n\s*", "", template.strip())


BODY = r"""
{%- macro task_body(t) -%}
{"type":"Row","gap":3,"align":"start","children":[
  {"type":"Icon","name":{{ ("check-circle-filled" if t.completed else "empty-circle") | tojson }},"color":{{ ("success" if t.completed else "secondary") | tojson }},"size":"lg"},
  {"type":"Col","flex":1,"gap":1,"children":[
    {"type":"Text","key":"title","value":{{ t.label | tojson }},"weight":"semibold","size":"sm","lineThrough":{{ (t.completed or t.state == "deleted") | tojson }}},
    {"type":"Row","gap":2,"wrap":"wrap","align":"center","children":[
      {"type":"Badge","key":"status","label":{{ t.status_label | tojson }},"color":{{ t.status_color | tojson }},"size":"sm"},
      {"type":"Badge","key":"priority","label":{{ t.priority_label | tojson }},"color":{{ t.priority_color | tojson }},"variant":"outline","size":"sm"}
      {%- if t.due_label -%},{"type":"Caption","key":"due","value":{{ t.due_label | tojson }},"color":"secondary"}{%- endif -%}
    ]}
  ]}
]},
{"type":"Row","key":"actions","gap":2,"justify":"end","align":"center","children":[
{%- if t.state == "deleted" -%}
  {"type":"Caption","value":"Deleted","color":"danger"}
{%- elif t.state == "confirm" -%}
  {"type":"Text","value":{{ ("Delete " ~ t.label ~ "?") | tojson }},"size":"sm","color":"danger"},
  {"type":"Button","key":"confirm","label":"Delete","color":"danger","size":"sm","onClickAction":{"type":"task.delete.confirm","handler":"server","loadingBehavior":"auto","streaming":true,"payload":{"number":{{ t.number | tojson }}}}},
  {"type":"Button","key":"cancel","label":"Cancel","variant":"outline","size":"sm","onClickAction":{"type":"task.delete.cancel","handler":"server","loadingBehavior":"auto","streaming":true,"payload":{"number":{{ t.number | tojson }}}}}
{%- else -%}
  {%- if t.completed -%}
  {"type":"Button","key":"reopen","label":"Reopen","variant":"outline","size":"sm","iconStart":"reload","onClickAction":{"type":"task.reopen","handler":"server","loadingBehavior":"auto","streaming":true,"payload":{"number":{{ t.number | tojson }}}}}
  {%- else -%}
  {"type":"Button","key":"complete","label":"Complete","color":"success","size":"sm","iconStart":"check","onClickAction":{"type":"task.complete","handler":"server","loadingBehavior":"auto","streaming":true,"payload":{"number":{{ t.number | tojson }}}}}
  {%- endif -%},
  {"type":"Button","key":"edit","label":"Edit","variant":"outline","size":"sm","iconStart":"write","onClickAction":{"type":"task.edit","handler":"client","loadingBehavior":"auto","streaming":true,"payload":{"number":{{ t.number | tojson }}}}},
  {"type":"Button","key":"delete","label":"Delete","variant":"ghost","color":"danger","size":"sm","onClickAction":{"type":"task.delete","handler":"server","loadingBehavior":"auto","streaming":true,"payload":{"number":{{ t.number | tojson }}}}}
{%- endif -%}
]}
{%- endmacro -%}
"""

LIST = (
    BODY
    + r"""
{"type":"ListView","key":"task-list","status":{"text":{{ heading | tojson }},"icon":"check-circle"},"children":[
{%- for t in tasks -%}
  {%- if not loop.first -%},{%- endif -%}
  {"type":"ListViewItem","key":{{ ("task-" ~ t.number) | tojson }},"children":[{"type":"Col","flex":1,"gap":2,"children":[{{ task_body(t) }}]}]}
{%- endfor -%}
{%- if not tasks -%}
  {"type":"ListViewItem","key":"empty","children":[{"type":"Text","value":{{ empty_text | tojson }},"color":"secondary","size":"sm"}]}
{%- endif -%}
]}
"""
)

CARD = (
    BODY
    + r"""
{"type":"Card","key":{{ ("task-" ~ task.number) | tojson }},"size":"md","status":{"text":{{ heading | tojson }},"icon":"check-circle"},"children":[{{ task_body(task) }}]}
"""
)

TASK_SCHEMA = {
    "type": "object",
    "properties": {
        "number": {"type": "integer"},
        "label": {"type": "string"},
        "completed": {"type": "boolean"},
        "state": {"type": "string", "enum": ["normal", "confirm", "deleted"]},
        "status_label": {"type": "string"},
        "status_color": {"type": "string"},
        "priority_label": {"type": "string"},
        "priority_color": {"type": "string"},
        "due_label": {"type": "string"},
    },
    "required": [
        "number",
        "label",
        "completed",
        "state",
        "status_label",
        "status_color",
        "priority_label",
        "priority_color",
        "due_label",
    ],
    "additionalProperties": True,
}


def render(title: str, template: str, props: dict[str, Any], required: list[str]) -> str:
    doc = {
        "version": "1.0",
        "name": title,
        "template": squash(template),
        "jsonSchema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": False,
        },
    }
    return json.dumps(doc, indent=2) + "\n"


FILES = {
    "task_list.widget": render(
        "Task list",
        LIST,
        {
            "heading": {"type": "string"},
            "empty_text": {"type": "string"},
            "tasks": {"type": "array", "items": TASK_SCHEMA},
        },
        ["heading", "empty_text", "tasks"],
    ),
    "task_card.widget": render(
        "Task card", CARD, {"heading": {"type": "string"}, "task": TASK_SCHEMA}, ["heading", "task"]
    ),
}


def main() -> int:
    stale = [name for name, text in FILES.items() if (OUT / name).read_text() != text]
    if "--check" in sys.argv:
        for name in stale:
            print(f"{name} is out of date: run python scripts/build_widget_templates.py")
        return 1 if stale else 0
    for name, text in FILES.items():
        (OUT / name).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
