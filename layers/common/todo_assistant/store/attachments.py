"""Attachment bytes in S3, uploaded straight from the browser (ChatKit's two-phase upload).

`attachments.create` checks the declared type and size, and answers a presigned PUT URL bound
to that content type; the metadata row (store.save_attachment) keeps the declared size and
expires by itself unless a message binds it. When a message uses the file, the object itself
is checked again (HEAD): present, within the size cap, of the declared type.

Objects live under the user's prefix (`keys.attachment_object_key`); ids are looked up in the
caller's own partition first, so another user's id is "not found" like a missing one.
"""

from __future__ import annotations

import asyncio
from typing import Any

from chatkit.store import AttachmentStore, NotFoundError
from chatkit.types import (
    Attachment,
    AttachmentCreateParams,
    AttachmentUploadDescriptor,
    FileAttachment,
    ImageAttachment,
    UserMessageItem,
)
from pydantic import AnyUrl

from todo_assistant.composer_options import ATTACHMENT_TYPES, IMAGE_TYPES
from todo_assistant.context import RequestContext
from todo_assistant.db import keys
from todo_assistant.ids import new_id
from todo_assistant.store.base import TodoStore

UPLOAD_URL_SECONDS = 15 * 60
# Links handed to the model (it fetches them while answering).
MODEL_URL_SECONDS = 5 * 60
# Image previews are shown in the thread; S3 caps a presigned URL at 7 days (less with a
# role's temporary credentials), so an old thread's preview can expire.
PREVIEW_URL_SECONDS = 24 * 60 * 60
NAME_MAX_CHARS = 200
DELETE_PAGE = 100


class AttachmentRejected(ValueError):
    """The file cannot be accepted (type, size, not uploaded); answered as a 400."""


def normalized_mime(mime_type: str) -> str:
    return mime_type.split(";", 1)[0].strip().lower()


def declared_size(attachment: Attachment) -> int | None:
    size = (attachment.metadata or {}).get("size")
    return size if isinstance(size, int) else None


class S3AttachmentStore(AttachmentStore[RequestContext]):
    def __init__(self, store: TodoStore, s3: Any, bucket: str, max_bytes: int) -> None:
        self.store = store
        self.bucket = bucket
        self.max_bytes = max_bytes
        self._s3 = s3

    def generate_attachment_id(self, mime_type: str, context: RequestContext) -> str:
        return new_id("atc")

    def object_key(self, attachment_id: str, context: RequestContext) -> str:
        return keys.attachment_object_key(context.user_id, attachment_id)

    # -- phase one: metadata and an upload URL --------------------------------------------
    async def create_attachment(
        self, input: AttachmentCreateParams, context: RequestContext
    ) -> Attachment:
        mime = normalized_mime(input.mime_type)
        if mime not in ATTACHMENT_TYPES:
            allowed = ", ".join(ATTACHMENT_TYPES)
            raise AttachmentRejected(
                f"Files of type {mime!r} are not accepted; allowed: {allowed}."
            )
        if input.size < 1:
            raise AttachmentRejected("The file is empty.")
        if input.size > self.max_bytes:
            raise AttachmentRejected(
                f"The file is {input.size} bytes; the limit is {self.max_bytes} bytes."
            )
        name = (input.name.replace("\\", "/").rsplit("/", 1)[-1].strip() or "file")[:NAME_MAX_CHARS]
        attachment_id = self.generate_attachment_id(mime, context)
        key = self.object_key(attachment_id, context)
        upload_url = await asyncio.to_thread(
            self._s3.generate_presigned_url,
            "put_object",
            Params={"Bucket": self.bucket, "Key": key, "ContentType": mime},
            ExpiresIn=UPLOAD_URL_SECONDS,
        )
        descriptor = AttachmentUploadDescriptor(
            url=AnyUrl(upload_url), method="PUT", headers={"Content-Type": mime}
        )
        common: dict[str, Any] = {
            "id": attachment_id,
            "name": name,
            "mime_type": mime,
            "upload_descriptor": descriptor,
            "metadata": {"size": input.size},
        }
        if mime in IMAGE_TYPES:
            preview = await self.download_url(attachment_id, context, PREVIEW_URL_SECONDS)
            return ImageAttachment(**common, preview_url=AnyUrl(preview))
        return FileAttachment(**common)

    # -- phase two: the object as uploaded ------------------------------------------------
    async def check_uploaded(self, attachment: Attachment, context: RequestContext) -> int:
        """The object's size, after checking it is there, small enough and of its type."""
        key = self.object_key(attachment.id, context)
        try:
            head = await asyncio.to_thread(self._s3.head_object, Bucket=self.bucket, Key=key)
        except self._s3.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise AttachmentRejected(
                    f"The file {attachment.name!r} has not been uploaded."
                ) from None
            raise
        size = int(head.get("ContentLength", 0))
        if size > self.max_bytes:
            raise AttachmentRejected(
                f"The file {attachment.name!r} is {size} bytes; the limit is {self.max_bytes}."
            )
        stored_type = normalized_mime(str(head.get("ContentType", "")))
        if stored_type != attachment.mime_type:
            raise AttachmentRejected(
                f"The file {attachment.name!r} was uploaded as {stored_type or 'unknown'!r}, "
                f"not {attachment.mime_type!r}."
            )
        return size

    async def read_bytes(
        self, attachment: Attachment, context: RequestContext, limit: int
    ) -> tuple[bytes, bool]:
        """At most `limit` bytes of the object, and whether there was more."""
        size = await self.check_uploaded(attachment, context)
        response = await asyncio.to_thread(
            self._s3.get_object,
            Bucket=self.bucket,
            Key=self.object_key(attachment.id, context),
            Range=f"bytes=0-{max(limit - 1, 0)}",
        )
        data: bytes = await asyncio.to_thread(response["Body"].read)
        return data[:limit], size > limit

    async def download_url(
        self, attachment_id: str, context: RequestContext, seconds: int = MODEL_URL_SECONDS
    ) -> str:
        url: str = await asyncio.to_thread(
            self._s3.generate_presigned_url,
            "get_object",
            Params={"Bucket": self.bucket, "Key": self.object_key(attachment_id, context)},
            ExpiresIn=seconds,
        )
        return url

    # -- removal --------------------------------------------------------------------------
    async def delete_attachment(self, attachment_id: str, context: RequestContext) -> None:
        # Only the caller's own attachment: raises NotFoundError for anyone else's id. The
        # server deletes the metadata row right after this.
        await self.store.load_attachment(attachment_id, context)
        await asyncio.to_thread(
            self._s3.delete_object, Bucket=self.bucket, Key=self.object_key(attachment_id, context)
        )

    async def delete_thread_attachments(self, thread_id: str, context: RequestContext) -> int:
        """Remove the objects and metadata of the files sent in a thread's user messages."""
        attachment_ids: list[str] = []
        after: str | None = None
        while True:
            try:
                page = await self.store.load_thread_items(
                    thread_id, after, DELETE_PAGE, "asc", context
                )
            except NotFoundError:
                break
            for item in page.data:
                if isinstance(item, UserMessageItem):
                    attachment_ids += [a.id for a in item.attachments]
            if not page.has_more or page.after is None:
                break
            after = page.after
        unique = list(dict.fromkeys(attachment_ids))
        if not unique:
            return 0
        objects = [{"Key": self.object_key(a, context)} for a in unique]
        for start in range(0, len(objects), 1_000):  # DeleteObjects takes 1,000 keys a call
            await asyncio.to_thread(
                self._s3.delete_objects,
                Bucket=self.bucket,
                Delete={"Objects": objects[start : start + 1_000], "Quiet": True},
            )
        for attachment_id in unique:
            await self.store.delete_attachment(attachment_id, context)
        return len(unique)
