/**
 * ChatKit's custom `fetch`: the client secret (via the session's authorized fetch), the
 * dashboard's page context in the input metadata, and the backend's cancel request when
 * ChatKit aborts a streaming turn (the Stop button).
 */

export type TaskFilter = "all" | "pending" | "completed";

export interface PageContext {
  view: "board" | "editor";
  filter: TaskFilter;
  query: string;
  selectedTask: number | null;
}

/** Requests that start a user turn: they carry the page context. */
const INPUT_REQUESTS = new Set(["threads.create", "threads.add_user_message"]);

/** Requests answered with a streamed turn: aborting them asks the backend to stop. */
const STREAMING_REQUESTS = new Set([
  "threads.create",
  "threads.add_user_message",
  "threads.add_client_tool_output",
  "threads.retry_after_item",
  "threads.custom_action",
]);

type RequestBody = { type?: unknown; params?: Record<string, unknown> };

function parseBody(body: BodyInit | null | undefined): RequestBody | null {
  if (typeof body !== "string") return null;
  try {
    const parsed: unknown = JSON.parse(body);
    return parsed && typeof parsed === "object" ? (parsed as RequestBody) : null;
  } catch {
    return null;
  }
}

/** The request body with `params.input.metadata.pageContext` set (other bodies unchanged). */
export function withPageContext(body: BodyInit | null | undefined, context: PageContext) {
  const parsed = parseBody(body);
  if (!parsed || typeof parsed.type !== "string" || !INPUT_REQUESTS.has(parsed.type)) return body;
  const input = parsed.params?.input;
  if (!input || typeof input !== "object") return body;
  const withMeta = input as { metadata?: Record<string, unknown> };
  withMeta.metadata = { ...(withMeta.metadata ?? {}), pageContext: context };
  return JSON.stringify(parsed);
}

export interface ChatKitFetchOptions {
  /** The session's authorized fetch (bearer, renewal, one retry on 401). */
  authorizedFetch: typeof fetch;
  /** The chatkit function URL (without /chatkit). */
  chatkitUrl: string;
  pageContext: () => PageContext;
  /** The thread ChatKit shows now (from onThreadChange), for turns that create one. */
  currentThreadId: () => string | null;
}

/** The new thread's id when `event` (one SSE event's text) is a `thread.created` event. */
export function createdThreadId(event: string): string | null {
  for (const line of event.split(/\r?\n/)) {
    if (!line.startsWith("data:")) continue;
    try {
      const data: unknown = JSON.parse(line.slice(5));
      if (data && typeof data === "object" && (data as { type?: unknown }).type === "thread.created") {
        const id = (data as { thread?: { id?: unknown } }).thread?.id;
        return typeof id === "string" ? id : null;
      }
    } catch {
      return null;
    }
  }
  return null;
}

/** A new thread's first event carries its id; more than this much text without it: none. */
const FIRST_EVENT_MAX_CHARS = 64 * 1024;

export function createChatKitFetch(options: ChatKitFetchOptions): typeof fetch {
  const cancel = (threadId: string) =>
    options
      .authorizedFetch(`${options.chatkitUrl}/chatkit/cancel`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ thread_id: threadId }),
      })
      // A backend without the route (404) or an already finished turn: nothing to stop.
      .catch(() => undefined);

  return async (input, init) => {
    const parsed = parseBody(init?.body);
    const body = withPageContext(init?.body, options.pageContext());
    const signal = init?.signal;
    const streaming = parsed && typeof parsed.type === "string" && STREAMING_REQUESTS.has(parsed.type);
    if (!streaming || !signal) return options.authorizedFetch(input, { ...init, body });

    // The turn's thread: named in the request, else (threads.create) made by this turn and
    // named by the stream's first event; before that arrives, the thread ChatKit shows.
    let created: string | null = null;
    const threadId = () => {
      const fromBody = parsed.params?.thread_id;
      if (typeof fromBody === "string") return fromBody;
      return created ?? options.currentThreadId();
    };
    const onAbort = () => {
      const id = threadId();
      if (id) void cancel(id);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    let response: Response;
    try {
      response = await options.authorizedFetch(input, { ...init, body });
    } catch (error) {
      signal.removeEventListener("abort", onAbort);
      throw error;
    }
    if (!response.ok || !response.body) {
      // Refused before the turn started (4xx/5xx JSON): nothing runs, nothing to stop.
      signal.removeEventListener("abort", onAbort);
      return response;
    }
    const decoder = new TextDecoder();
    let head: string | null = parsed.type === "threads.create" ? "" : null;
    const watched = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (head !== null) {
          head += decoder.decode(chunk, { stream: true });
          const end = head.search(/\r?\n\r?\n/);
          if (end >= 0) created = createdThreadId(head.slice(0, end));
          if (end >= 0 || head.length > FIRST_EVENT_MAX_CHARS) head = null;
        }
        controller.enqueue(chunk);
      },
      // Read to the end: the turn is over, a later abort has nothing to stop.
      flush: () => signal.removeEventListener("abort", onAbort),
    });
    return new Response(response.body.pipeThrough(watched), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}
