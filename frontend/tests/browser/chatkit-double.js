/*
 * TEST DOUBLE: this is NOT OpenAI's ChatKit.
 *
 * The browser tests serve this file in place of ChatKit's web component script
 * (https://cdn.platform.openai.com/deployments/chatkit/chatkit.js), which the test machine
 * cannot reach. It defines <openai-chatkit> with the same surface the React binding uses
 * (setOptions, chatkit.* DOM events) and drives the page's real options the way the
 * component does: it calls the configured `api.fetch` for `api.url` with ChatKit protocol
 * requests, reads the Server-Sent Events stream, hands `client_effect` events to onEffect
 * (chatkit.effect), answers client tool calls through onClientTool, reports thread changes,
 * and calls entities.onTagSearch. Its UI is deliberately plain and says what it is.
 */
(() => {
  const input = (text) => ({
    content: [{ type: "input_text", text }],
    attachments: [],
    quoted_text: null,
    inference_options: {},
  });

  /** Events of a `text/event-stream` body, one parsed `data:` payload at a time. */
  async function* sseEvents(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).trimStart())
          .join("\n");
        if (data) yield JSON.parse(data);
      }
    }
  }

  class ChatKitTestDouble extends HTMLElement {
    constructor() {
      super();
      this.options = null;
      this.threadId = null;
      this.controller = null;
    }

    setOptions(options) {
      const first = this.options === null;
      this.options = options;
      if (first) {
        this.render();
        this.emit("chatkit.ready");
      }
    }

    emit(name, detail) {
      this.dispatchEvent(new CustomEvent(name, { detail }));
    }

    render() {
      this.innerHTML = `
        <div class="chatkit-double" style="display:flex;flex-direction:column;height:100%;font:14px system-ui;padding:12px;gap:8px">
          <strong data-testid="double-label">ChatKit test double (not OpenAI's ChatKit)</strong>
          <ol data-testid="transcript" style="flex:1;overflow:auto;margin:0;padding-left:18px"></ol>
          <p data-testid="double-error" style="color:#c92a2a;margin:0"></p>
          <form data-testid="composer" style="display:flex;gap:6px">
            <input aria-label="Message the assistant" style="flex:1" />
            <button type="submit">Send</button>
            <button type="button" data-testid="stop">Stop</button>
          </form>
          <input aria-label="Mention a task" placeholder="@ search" />
          <ul data-testid="mentions" style="margin:0;padding-left:18px"></ul>
        </div>`;
      const form = this.querySelector("form");
      const message = form.querySelector("input");
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const text = message.value.trim();
        message.value = "";
        if (text) void this.sendUserMessage({ text });
      });
      this.querySelector('[data-testid="stop"]').addEventListener("click", () => this.controller?.abort());
      const mention = this.querySelector('[aria-label="Mention a task"]');
      mention.addEventListener("input", () => void this.tagSearch(mention.value));
    }

    line(text, role) {
      const item = document.createElement("li");
      item.dataset.role = role;
      item.textContent = text;
      this.querySelector('[data-testid="transcript"]').append(item);
    }

    async sendUserMessage({ text }) {
      this.line(text, "user");
      const request = this.threadId
        ? { type: "threads.add_user_message", params: { thread_id: this.threadId, input: input(text) } }
        : { type: "threads.create", params: { input: input(text) } };
      await this.stream(request);
    }

    async stream(request) {
      const { api } = this.options;
      this.controller = new AbortController();
      this.emit("chatkit.response.start");
      const toolOutputs = [];
      try {
        const response = await api.fetch(api.url, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(request),
          signal: this.controller.signal,
        });
        if (!response.ok) throw new Error(`ChatKit request failed (${response.status})`);
        for await (const event of sseEvents(response.body)) {
          if (event.type === "thread.created") {
            this.threadId = event.thread.id;
            this.dataset.threadId = this.threadId;
            this.emit("chatkit.thread.change", { threadId: this.threadId });
          } else if (event.type === "client_effect") {
            this.emit("chatkit.effect", { name: event.name, data: event.data });
          } else if (event.type === "thread.item.done" && event.item.type === "assistant_message") {
            this.line(event.item.content.map((part) => part.text).join(""), "assistant");
          } else if (event.type === "thread.item.done" && event.item.type === "client_tool_call") {
            if (event.item.status === "pending") {
              const result = await this.options.onClientTool?.({
                name: event.item.name,
                params: event.item.arguments,
              });
              toolOutputs.push(result);
            }
          } else if (event.type === "error") {
            throw new Error(event.message || "stream error");
          }
        }
      } catch (error) {
        if (error.name !== "AbortError") {
          this.querySelector('[data-testid="double-error"]').textContent = String(error.message);
          this.emit("chatkit.error", { error });
        }
      } finally {
        this.emit("chatkit.response.end");
      }
      for (const result of toolOutputs) {
        await this.stream({
          type: "threads.add_client_tool_output",
          params: { thread_id: this.threadId, result },
        });
      }
    }

    async tagSearch(query) {
      const list = this.querySelector('[data-testid="mentions"]');
      const entities = query ? await this.options.entities.onTagSearch(query) : [];
      list.replaceChildren(
        ...entities.map((entity) => {
          const item = document.createElement("li");
          item.dataset.entityId = entity.id;
          item.textContent = entity.title;
          return item;
        }),
      );
    }

    focusComposer() {
      this.querySelector("form input")?.focus();
    }

    setThreadId(threadId) {
      this.threadId = threadId;
      this.emit("chatkit.thread.change", { threadId });
    }
  }

  customElements.define("openai-chatkit", ChatKitTestDouble);
})();
