"""What a ChatKit request must pass before the server writes anything (one step, run by
`TodoChatKitServer.process` inside the request's store scope, so what it reads is read once
for the whole request).

- The body parses as a ChatKit request (`parse_request`, the one request adapter).
- Attachment requests need attachments to be enabled.
- A new message is at most MAX_MESSAGE_CHARS long, picks only offered models and composer
  tools, and names only attachments the user uploaded (present, within the cap, of their
  declared type).
- A client tool's output answers a client tool call that its thread is waiting on.

Every refusal is a `Refusal` (or the SDK's NotFoundError, or a ValueError for a bad option),
answered as a JSON 4xx, and nothing has been written when it is raised.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from chatkit.types import (
    AttachmentsCreateReq,
    AttachmentsDeleteReq,
    ChatKitReq,
    ClientToolCallItem,
    ThreadsAddClientToolOutputReq,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
)
from pydantic import TypeAdapter

from todo_assistant.agent.page_context import page_context_from_body
from todo_assistant.context import RequestContext
from todo_assistant.errors import Refusal
from todo_assistant.llm.model_choice import ModelChoices
from todo_assistant.store.attachments import S3AttachmentStore
from todo_assistant.store.base import TodoStore

_REQUEST_ADAPTER: TypeAdapter[ChatKitReq] = TypeAdapter(ChatKitReq)


def parse_request(body: str | bytes | bytearray) -> ChatKitReq:
    return _REQUEST_ADAPTER.validate_json(body)


def read_request(body: bytes, user: RequestContext) -> tuple[ChatKitReq, RequestContext]:
    """The request in `body`, and its user with the page context a new message carries
    (ChatKit's input type has no `metadata`: it is read from the body itself)."""
    parsed = parse_request(body)
    if isinstance(parsed, ThreadsCreateReq | ThreadsAddUserMessageReq):
        user = dataclasses.replace(user, page_context=page_context_from_body(body))
    return parsed, user


def message_chars(request: ChatKitReq) -> int:
    """Characters of text in a new user message (0 for every other request)."""
    if not isinstance(request, ThreadsCreateReq | ThreadsAddUserMessageReq):
        return 0
    return sum(len(getattr(part, "text", "")) for part in request.params.input.content)


class Admission:
    def __init__(
        self,
        store: TodoStore,
        *,
        attachments: S3AttachmentStore | None,
        models: ModelChoices | None,
        tool_names: Iterable[str],
        max_message_chars: int,
    ) -> None:
        self.store = store
        self.attachments = attachments
        self.models = models
        self.tool_names = frozenset(tool_names)
        self.max_message_chars = max_message_chars

    async def admit(self, request: ChatKitReq, context: RequestContext) -> None:
        """Raise the first refusal `request` runs into; return when it may go ahead."""
        if self.attachments is None and isinstance(
            request, AttachmentsCreateReq | AttachmentsDeleteReq
        ):
            # The SDK would raise a RuntimeError (a 500); without a store this is unsupported.
            raise NotImplementedError("attachments are not enabled")
        if isinstance(request, ThreadsCreateReq | ThreadsAddUserMessageReq):
            if self.models is not None:
                self.models.check(request.params.input.inference_options, self.tool_names)
            for attachment_id in request.params.input.attachments:
                attachment = await self.store.load_attachment(attachment_id, context)
                if self.attachments is not None:
                    # The bytes as uploaded: present, within the cap, of the declared type.
                    await self.attachments.check_uploaded(attachment, context)
        if isinstance(request, ThreadsAddClientToolOutputReq):
            await self._check_waiting_client_tool(request.params.thread_id, context)
        chars = message_chars(request)
        if chars > self.max_message_chars:
            raise Refusal(
                400,
                "message_too_long",
                f"The message has {chars} characters; at most {self.max_message_chars} are "
                "accepted.",
            )

    async def _check_waiting_client_tool(self, thread_id: str, context: RequestContext) -> None:
        """Refuse a client tool's output (404) unless the caller's thread is waiting on a client
        tool call. (The SDK would answer a bare ValueError.) Within the request's scope both
        reads are answered by the one thread read the turn makes anyway."""
        await self.store.load_thread(thread_id, context=context)  # another user's: not found
        newest = await self.store.load_thread_items(thread_id, None, 1, "desc", context)
        waiting = newest.data[0] if newest.data else None
        if not (isinstance(waiting, ClientToolCallItem) and waiting.status == "pending"):
            raise Refusal(
                404, "not_found", "No client tool call is waiting for an answer in this thread."
            )
