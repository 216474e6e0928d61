import { describe, expect, it } from "vitest";
import { createChatKitFetch, withPageContext, type PageContext } from "@/lib/chatkit-fetch";

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
