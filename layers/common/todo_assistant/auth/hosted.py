"""OpenAI-hosted ChatKit sessions: POST /session for a front end that runs an Agent Builder
workflow on OpenAI instead of this backend's /chatkit.

`openai` costs about a second to import, so it is imported here only when a workflow is
configured; the session function otherwise never loads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from todo_assistant.observability import logger

if TYPE_CHECKING:
    import openai
    from openai import AsyncOpenAI

# A sign-in must not hang. No automatic retries by default: the client would honour an
# upstream Retry-After of up to two minutes, longer than the session function may run; the
# caller gets a 503 with Retry-After instead and decides.
TIMEOUT_SECONDS = 8.0
MAX_RETRIES = 0


@dataclass(frozen=True, slots=True)
class HostedSession:
    client_secret: str
    expires_at: int


class HostedSessionError(Exception):
    """OpenAI did not create the session. `status`/`code`/`message` are safe to show."""

    def __init__(
        self, status: int, code: str, message: str, *, retry_after: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


class HostedSessions:
    def __init__(self, client: AsyncOpenAI, workflow_id: str) -> None:
        self._client = client
        self.workflow_id = workflow_id

    async def create(self, user_id: str) -> HostedSession:
        """A ChatKit session scoped to this (already verified) user."""
        import openai

        try:
            session = await self._client.beta.chatkit.sessions.create(
                user=user_id, workflow={"id": self.workflow_id}
            )
        except openai.APIStatusError as error:
            raise _status_error(error) from None
        except openai.APITimeoutError:
            logger.warning("hosted chatkit session timed out")
            raise HostedSessionError(
                504, "upstream_timeout", "The chat service did not answer in time; try again."
            ) from None
        except openai.APIConnectionError:
            logger.warning("hosted chatkit session: chat service unreachable")
            raise HostedSessionError(
                502, "upstream_unavailable", "The chat service could not be reached; try again."
            ) from None
        if not session.client_secret:
            raise HostedSessionError(
                502, "upstream_error", "The chat service returned no client secret."
            )
        return HostedSession(client_secret=session.client_secret, expires_at=session.expires_at)


def _status_error(error: openai.APIStatusError) -> HostedSessionError:
    """Map an upstream HTTP error; never pass its body on (a 401 body names the API key)."""
    import openai

    # Status and request id only: the message may carry part of the key or the user id.
    logger.warning(
        "hosted chatkit session refused",
        extra={"upstream_status": error.status_code, "upstream_request_id": error.request_id},
    )
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return HostedSessionError(
            502, "upstream_auth_failed", "The chat service refused this backend's credentials."
        )
    if isinstance(error, openai.RateLimitError):
        return HostedSessionError(
            503,
            "upstream_busy",
            "The chat service is rate limiting new sessions; try again shortly.",
            retry_after=error.response.headers.get("retry-after"),
        )
    if error.status_code >= 500:
        return HostedSessionError(
            502, "upstream_error", "The chat service failed to create a session; try again."
        )
    return HostedSessionError(
        502,
        "upstream_rejected",
        "The chat service rejected the session request; check CHATKIT_WORKFLOW_ID.",
    )
