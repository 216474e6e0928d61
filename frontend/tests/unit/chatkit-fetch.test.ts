import { describe, expect, it } from "vitest";
import { createChatKitFetch, createdThreadId, withPageContext, type PageContext } from "@/lib/chatkit-fetch";

const CONTEXT: PageContext = { view: "board", filter: "pending", query: "milk", selectedTask: 3 };
const userMessage = (type: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    type,
    params: {
      ...extra,
      input: { content: [{ type: "input_text", text: "hi" }], attachments: [], inference_options: {} },
    },
  });

describe("page context", () => {
  it("is added to threads.create and threads.add_user_message input metadata", () => {
    for (const type of ["threads.create", "threads.add_user_message"]) {
      const body = JSON.parse(String(withPageContext(userMessage(type, { thread_id: "thr_1" }), CONTEXT)));
      expect(body.params.input.metadata).toEqual({ pageContext: CONTEXT });
      expect(body.params.input.content[0].text).toBe("hi");
      expect(body.type).toBe(type);
    }
  });

  it("keeps metadata the input already has", () => {
    const original = JSON.parse(userMessage("threads.create"));
    original.params.input.metadata = { source: "x" };
    const body = JSON.parse(String(withPageContext(JSON.stringify(original), CONTEXT)));
    expect(body.params.input.metadata).toEqual({ source: "x", pageContext: CONTEXT });
  });

  it("leaves other requests and non-JSON bodies exactly as they were", () => {
    const list = '{"type":"threads.list","params":{"limit":9}}';
    expect(withPageContext(list, CONTEXT)).toBe(list);
    expect(withPageContext("not json", CONTEXT)).toBe("not json");
    expect(withPageContext(undefined, CONTEXT)).toBeUndefined();
  });
});

interface Sent {
  url: string;
  body: string;
}

function harness(answer: (url: string) => Response) {
  const sent: Sent[] = [];
  let threadId: string | null = "thr_current";
  const authorizedFetch: typeof fetch = async (input, init) => {
    sent.push({ url: String(input), body: String(init?.body) });
    return answer(String(input));
  };
  const chatkitFetch = createChatKitFetch({
    authorizedFetch,
    chatkitUrl: "http://chatkit.test",
    pageContext: () => CONTEXT,
    currentThreadId: () => threadId,
  });
  return { sent, chatkitFetch, setThread: (id: string | null) => (threadId = id) };
}

const stream = () =>
  new Response(new ReadableStream({ start() {} }), {
    headers: { "Content-Type": "text/event-stream" },
  });

/** A stream that sends `chunks` and then stays open, as a turn still being written. */
const openStream = (...chunks: string[]) =>
  new Response(
    new ReadableStream({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
      },
    }),
    { headers: { "Content-Type": "text/event-stream" } },
  );

const threadCreated = (id: string) =>
  `data: ${JSON.stringify({ type: "thread.created", thread: { id, title: null, items: { data: [] } } })}\n\n`;

const cancels = (sent: Sent[]) => sent.filter((s) => s.url === "http://chatkit.test/chatkit/cancel");

describe("cancel on abort (Stop)", () => {
  it("posts /chatkit/cancel with the request's thread when a streaming turn is aborted", async () => {
    const { sent, chatkitFetch } = harness((url) => (url.endsWith("/cancel") ? new Response(null, { status: 202 }) : stream()));
    const controller = new AbortController();
    await chatkitFetch("http://chatkit.test/chatkit", {
      method: "POST",
      body: userMessage("threads.add_user_message", { thread_id: "thr_body" }),
      signal: controller.signal,
    });
    controller.abort();
    await Promise.resolve();
    expect(cancels(sent).map((c) => JSON.parse(c.body))).toEqual([{ thread_id: "thr_body" }]);
  });

  it("uses the thread from onThreadChange for a turn that created the thread", async () => {
    const { sent, chatkitFetch, setThread } = harness(() => stream());
    const controller = new AbortController();
    await chatkitFetch("http://chatkit.test/chatkit", {
      method: "POST",
      body: userMessage("threads.create"),
      signal: controller.signal,
    });
    setThread("thr_new");
    controller.abort();
    await Promise.resolve();
    expect(cancels(sent).map((c) => JSON.parse(c.body))).toEqual([{ thread_id: "thr_new" }]);
  });

  it("uses the thread.created event of a turn that created its thread", async () => {
    const userMessageDone = 'data: {"type":"thread.item.done","item":{"type":"user_message"}}\n\n';
    const { sent, chatkitFetch } = harness((url) =>
      url.endsWith("/cancel") ? new Response(null, { status: 202 }) : openStream(threadCreated("thr_streamed"), userMessageDone),
    );
    const controller = new AbortController();
    const response = await chatkitFetch("http://chatkit.test/chatkit", {
      method: "POST",
      body: userMessage("threads.create"),
      signal: controller.signal,
    });
    await response.body!.getReader().read(); // ChatKit reads the first event
    controller.abort(); // onThreadChange still names the thread shown before (thr_current)
    await Promise.resolve();
    expect(cancels(sent).map((c) => JSON.parse(c.body))).toEqual([{ thread_id: "thr_streamed" }]);
  });

  it("finds the new thread's id when its event arrives in pieces", async () => {
    const event = threadCreated("thr_split").replaceAll("\n", "\r\n");
    const { sent, chatkitFetch } = harness(() => openStream(event.slice(0, 20), event.slice(20, 41), event.slice(41)));
    const controller = new AbortController();
    const response = await chatkitFetch("http://chatkit.test/chatkit", {
      method: "POST",
      body: userMessage("threads.create"),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    for (let i = 0; i < 3; i++) await reader.read();
    controller.abort();
    await Promise.resolve();
    expect(cancels(sent).map((c) => JSON.parse(c.body))).toEqual([{ thread_id: "thr_split" }]);
  });

  it("does not cancel a request the backend refused (nothing runs)", async () => {
    const { sent, chatkitFetch } = harness(
      () => new Response('{"error":"rate_limited"}', { status: 429, headers: { "Content-Type": "application/json" } }),
    );
    const controller = new AbortController();
    const response = await chatkitFetch("http://chatkit.test/chatkit", {
      method: "POST",
      body: userMessage("threads.add_user_message", { thread_id: "thr_1" }),
      signal: controller.signal,
    });
    expect(response.status).toBe(429);
    controller.abort();
    await Promise.resolve();
    expect(cancels(sent)).toHaveLength(0);
  });

  it("does not cancel after the stream has ended, nor for non-streaming requests", async () => {
    const { sent, chatkitFetch } = harness(() => new Response("data: {}\n\n"));
    const finished = new AbortController();
    const response = await chatkitFetch("http://chatkit.test/chatkit", {
      method: "POST",
      body: userMessage("threads.add_user_message", { thread_id: "thr_1" }),
      signal: finished.signal,
    });
    await response.text(); // read to the end: the turn is over
    finished.abort();
    const listing = new AbortController();
    await chatkitFetch("http://chatkit.test/chatkit", {
      method: "POST",
      body: '{"type":"threads.list","params":{}}',
      signal: listing.signal,
    });
    listing.abort();
    await Promise.resolve();
    expect(cancels(sent)).toHaveLength(0);
  });

  it("a backend without the cancel route (404) is not an error", async () => {
    const { sent, chatkitFetch } = harness((url) =>
      url.endsWith("/cancel") ? new Response('{"error":"not_found"}', { status: 404 }) : stream(),
    );
    const controller = new AbortController();
    const response = await chatkitFetch("http://chatkit.test/chatkit", {
      method: "POST",
      body: userMessage("threads.add_user_message", { thread_id: "thr_1" }),
      signal: controller.signal,
    });
    controller.abort();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(cancels(sent)).toHaveLength(1);
    expect(response.headers.get("Content-Type")).toBe("text/event-stream");
  });

  it("sends the page context on the request it forwards", async () => {
    const { sent, chatkitFetch } = harness(() => stream());
    await chatkitFetch("http://chatkit.test/chatkit", { method: "POST", body: userMessage("threads.create") });
    expect(JSON.parse(sent[0].body).params.input.metadata.pageContext).toEqual(CONTEXT);
  });
});

describe("createdThreadId", () => {
  it("reads the id of a thread.created event, and nothing else", () => {
    expect(createdThreadId(threadCreated("thr_1").trim())).toBe("thr_1");
    expect(createdThreadId('data: {"type":"thread.item.done","item":{"id":"thr_2"}}')).toBeNull();
    expect(createdThreadId('data: {"type":"thread.created","thread":{"id":7}}')).toBeNull();
    expect(createdThreadId("data: {not json")).toBeNull();
    expect(createdThreadId(": comment")).toBeNull();
  });
});
