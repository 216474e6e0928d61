/**
 * The dashboard in a real browser against the real local stack on loopback.
 * ChatKit's web component is replaced by tests/browser/chatkit-double.js (a labelled test
 * double); everything else — the page, its ChatKit options and fetch, the session and tasks
 * APIs, the ChatKit server and the agent — is the real thing.
 */
import { copyFile, mkdir, readFile } from "node:fs/promises";
import type { Server } from "node:http";
import { join } from "node:path";
import type { Browser, BrowserContext, Page, Request } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHATKIT_SCRIPT_URL } from "../../lib/settings";
import {
  buildFrontend,
  freePort,
  launchChromium,
  mintExpiredSecret,
  REPO,
  serveStatic,
  startBackend,
  type Backend,
} from "./harness";

let backend: Backend;
let web: Server;
let webUrl: string;
let browser: Browser;
let double: string;

beforeAll(async () => {
  const webPort = await freePort();
  webUrl = `http://127.0.0.1:${webPort}`;
  backend = await startBackend(webUrl);
  await buildFrontend(backend.url);
  web = await serveStatic(webPort);
  browser = await launchChromium();
  double = await readFile(join(__dirname, "chatkit-double.js"), "utf8");
});

afterAll(async () => {
  await browser?.close();
  await new Promise((done) => (web ? web.close(done) : done(undefined)));
  await backend?.stop();
});

/** A fresh browser profile whose ChatKit script is the test double; nothing leaves loopback. */
async function openPage(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.route(
    (url) => url.href === CHATKIT_SCRIPT_URL,
    (route) => route.fulfill({ contentType: "text/javascript", body: double }),
  );
  await context.route(
    (url) => url.href !== CHATKIT_SCRIPT_URL && url.hostname !== "127.0.0.1",
    (route) => route.abort(),
  );
  const page = await context.newPage();
  return { context, page };
}

async function signIn(page: Page, user: string) {
  await page.goto(webUrl);
  const listed = page.getByRole("button", { name: `Sign in as ${user}` });
  await page.getByLabel("Another user id").waitFor();
  if (await listed.count()) {
    await listed.click();
  } else {
    await page.getByLabel("Another user id").fill(user);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
  }
  await expect.poll(() => page.getByTestId("signed-in-user").textContent()).toBe(user);
}

async function backendSecret(user: string): Promise<string> {
  const session = await fetch(`${backend.url}/session`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user_id: user }),
  }).then((r) => r.json() as Promise<{ client_secret: string }>);
  return session.client_secret;
}

/** What the backend holds for a user, read through the HTTP API (not the page). */
async function backendTasks(user: string) {
  const response = await fetch(`${backend.url}/tasks?status=all`, {
    headers: { Authorization: `Bearer ${await backendSecret(user)}` },
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { tasks: { number: number; title: string; status: string }[] }).tasks;
}

type Item = { type: string; content?: { text: string }[] };

/** A thread's items as the backend lists them (over HTTP, not the page). */
async function backendItems(user: string, threadId: string): Promise<Item[]> {
  const response = await fetch(`${backend.url}/chatkit`, {
    method: "POST",
    headers: { Authorization: `Bearer ${await backendSecret(user)}`, "Content-Type": "application/json" },
    body: JSON.stringify({ type: "items.list", params: { thread_id: threadId, order: "asc" } }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { data: Item[] }).data;
}

/** The assistant's whole answer to `text` in a new thread, over HTTP, nobody stopping it. */
async function backendFullAnswer(user: string, text: string): Promise<string> {
  const response = await fetch(`${backend.url}/chatkit`, {
    method: "POST",
    headers: { Authorization: `Bearer ${await backendSecret(user)}`, "Content-Type": "application/json" },
    body: JSON.stringify({
      type: "threads.create",
      params: { input: { content: [{ type: "input_text", text }], attachments: [], inference_options: {} } },
    }),
  });
  const done = (await response.text())
    .split("\n\n")
    .filter((block) => block.startsWith("data: "))
    .map((block) => JSON.parse(block.slice(6)) as { type: string; item?: Item })
    .filter((event) => event.type === "thread.item.done" && event.item?.type === "assistant_message");
  return done[0].item!.content![0].text;
}

const taskRow = (page: Page, title: string) => page.locator("li.task", { hasText: title });

describe("dashboard against the local stack", () => {
  it("builds a static export", async () => {
    const html = await readFile(join(__dirname, "../../out/index.html"), "utf8");
    expect(html).toContain(CHATKIT_SCRIPT_URL);
  });

  it("signs in as a dev user; adds, completes and deletes tasks; the backend's data changes", async () => {
    const { context, page } = await openPage();
    await signIn(page, "alice");
    await page.getByTestId("empty").waitFor();

    await page.getByLabel("New task").fill("Water the plants");
    await page.getByLabel("Priority").selectOption("high");
    await page.getByRole("button", { name: "Add", exact: true }).click();
    await taskRow(page, "Water the plants").waitFor();
    expect(await backendTasks("alice")).toMatchObject([
      { number: 1, title: "Water the plants", status: "pending" },
    ]);

    await page.getByLabel("Complete #1 Water the plants").click();
    await expect.poll(async () => (await backendTasks("alice"))[0].status).toBe("completed");
    await taskRow(page, "Water the plants").waitFor({ state: "detached" }); // pending filter
    await page.getByRole("tab", { name: "completed" }).click();
    await taskRow(page, "Water the plants").waitFor();

    await page.getByLabel("Delete #1").click();
    await expect.poll(async () => (await backendTasks("alice")).length).toBe(0);
    await taskRow(page, "Water the plants").waitFor({ state: "detached" });

    // Another user sees none of alice's tasks.
    expect(await backendTasks("bob")).toEqual([]);
    await context.close();
  });

  it("a message typed into ChatKit reaches /chatkit with the bearer, streams back, and the effect refreshes the panel", async () => {
    const { context, page } = await openPage();
    const chatkitRequests: Request[] = [];
    page.on("request", (request) => {
      if (request.url() === `${backend.url}/chatkit` && request.method() === "POST") {
        chatkitRequests.push(request);
      }
    });
    await signIn(page, "carol");
    await page.getByTestId("empty").waitFor();
    await page.getByTestId("double-label").waitFor();
    await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));

    await page.getByLabel("Message the assistant").fill("Add a task to buy groceries");
    await page.getByRole("button", { name: "Send" }).click();

    const reply = page.locator('[data-testid="transcript"] li[data-role="assistant"]');
    await reply.first().waitFor();
    expect(await reply.first().textContent()).toMatch(/Added task #1: Buy groceries/i);
    // The task panel shows the new task: the tasks_changed effect reloaded it, no page reload.
    await taskRow(page, "Buy groceries").waitFor();
    expect(await page.getByTestId("last-change").textContent()).toBe("Assistant created #1");
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    expect(await backendTasks("carol")).toMatchObject([{ number: 1, title: "Buy groceries" }]);

    const turn = chatkitRequests.find((r) => r.postData()?.includes("threads.create"))!;
    expect(turn).toBeDefined();
    expect((await turn.allHeaders()).authorization).toMatch(/^Bearer ey/);
    const response = await turn.response();
    expect(response?.status()).toBe(200);
    expect((await response!.allHeaders())["content-type"]).toContain("text/event-stream");
    // The page context rides along in the input metadata.
    expect(JSON.parse(turn.postData()!).params.input.metadata.pageContext).toEqual({
      view: "board",
      filter: "pending",
      query: "",
      selectedTask: null,
    });

    // @-mention search goes through GET /tasks?q= and lists the task as an entity.
    await page.getByLabel("Mention a task").fill("groc");
    await page.locator('[data-entity-id="task-1"]').waitFor();
    expect(await page.locator('[data-entity-id="task-1"]').textContent()).toBe("#1 Buy groceries");

    // A second message goes to the same thread.
    await page.getByLabel("Message the assistant").fill("Mark task 1 as complete");
    await page.getByRole("button", { name: "Send" }).click();
    await expect.poll(() => page.getByTestId("last-change").textContent()).toBe("Assistant completed #1");
    await taskRow(page, "Buy groceries").waitFor({ state: "detached" }); // pending filter
    expect((await backendTasks("carol"))[0].status).toBe("completed");
    const followUp = chatkitRequests.find((r) => r.postData()?.includes("threads.add_user_message"));
    expect(JSON.parse(followUp!.postData()!).params.thread_id).toMatch(/^thr_/);

    await page.getByRole("tab", { name: "all" }).click();
    await page.getByLabel("New task").fill("Call mom");
    await page.getByRole("button", { name: "Add", exact: true }).click();
    await taskRow(page, "Call mom").waitFor();
    const shot = join(__dirname, "../../test-results/dashboard.png");
    await mkdir(join(__dirname, "../../test-results"), { recursive: true });
    await page.screenshot({ path: shot });
    if (process.env.UPDATE_SCREENSHOT) await copyFile(shot, join(REPO, "docs/dashboard.png"));
    await context.close();
  });

  it("an expired secret gets a 401, is refreshed once, and the request is retried", async () => {
    const { context, page } = await openPage();
    const expired = await mintExpiredSecret(backend.env, "dave");
    // The sign-in answer carries a secret the backend already considers expired (as with a
    // client clock running behind): the page does not know until the backend says 401.
    let signIns = 0;
    await page.route(`${backend.url}/session`, (route) => {
      signIns += 1;
      return route.fulfill({
        status: 200,
        contentType: "application/json",
        headers: { "Access-Control-Allow-Origin": webUrl },
        body: JSON.stringify({ client_secret: expired, expires_at: Math.floor(Date.now() / 1000) + 900 }),
      });
    });
    // Hold the board's first load so the chat request is the first to carry the expired secret.
    let releaseBoard!: () => void;
    const boardHeld = new Promise<void>((done) => (releaseBoard = done));
    await page.route(
      (url) => url.href.startsWith(`${backend.url}/tasks`),
      async (route) => {
        await boardHeld;
        await route.continue();
      },
    );
    const log: { path: string; bearer: string | undefined; status: number }[] = [];
    page.on("response", async (response) => {
      const url = new URL(response.url());
      if (url.origin !== backend.url || response.request().method() === "OPTIONS") return;
      const headers = await response.request().allHeaders().catch(() => ({}) as Record<string, string>);
      log.push({ path: url.pathname, bearer: headers.authorization?.slice(7), status: response.status() });
    });

    await signIn(page, "dave");
    await page.getByTestId("double-label").waitFor();
    await page.getByLabel("Message the assistant").fill("Add a task to renew my passport");
    await page.getByRole("button", { name: "Send" }).click();
    await page.locator('[data-testid="transcript"] li[data-role="assistant"]').first().waitFor();
    releaseBoard();
    await taskRow(page, "Renew my passport").waitFor();

    const chatkit = log.filter((entry) => entry.path === "/chatkit");
    const refreshes = log.filter((entry) => entry.path === "/session/refresh");
    expect(signIns).toBe(1);
    expect(refreshes).toEqual([{ path: "/session/refresh", bearer: expired, status: 200 }]);
    expect(chatkit[0]).toEqual({ path: "/chatkit", bearer: expired, status: 401 });
    expect(chatkit[1].status).toBe(200);
    expect(chatkit[1].bearer).not.toBe(expired);
    expect(chatkit).toHaveLength(2); // retried once, no loop
    // The board's held load went out with the old secret too: it is retried with the secret
    // already renewed (no second refresh), and every request after that uses it.
    const board = log.filter((entry) => entry.path.startsWith("/tasks"));
    const renewed = chatkit[1].bearer;
    expect(board.length).toBeGreaterThan(0);
    for (const entry of board) {
      expect([`${entry.status} ${entry.bearer === expired ? "old" : entry.bearer === renewed ? "new" : "?"}`]).toSatisfy(
        ([seen]: string[]) => seen === "401 old" || seen === "200 new",
      );
    }
    expect(board.filter((entry) => entry.status === 401).length).toBeLessThanOrEqual(1);
    await context.close();
  });

  it("says the backend is unreachable when it does not answer, and recovers on Retry", async () => {
    const { context, page } = await openPage();
    await page.route(`${backend.url}/**`, (route) => route.abort("connectionrefused"));
    await page.goto(webUrl);
    const banner = page.locator('[data-status="unreachable"]');
    await banner.waitFor();
    expect(await banner.textContent()).toContain("The backend is unreachable");
    await page.unroute(`${backend.url}/**`);
    await banner.getByRole("button", { name: "Retry" }).click();
    await page.getByRole("button", { name: "Sign in as alice" }).waitFor();
    expect(await banner.count()).toBe(0);
    await context.close();
  });

  it("Stop aborts the streaming turn and posts the backend's cancel request for its thread", async () => {
    const { context, page } = await openPage();
    await signIn(page, "erin");
    await page.getByTestId("double-label").waitFor();
    // The local model answers this with its help text: a dozen deltas, 150 ms apart.
    await page.getByLabel("Message the assistant").fill("What can you do?");
    await page.getByRole("button", { name: "Send" }).click();
    const threadId = await page.locator("openai-chatkit[data-thread-id]").getAttribute("data-thread-id");
    const cancel = page.waitForRequest(`${backend.url}/chatkit/cancel`);
    await page.getByTestId("stop").click();
    const request = await cancel;
    expect(request.method()).toBe("POST");
    expect(JSON.parse(request.postData()!)).toEqual({ thread_id: threadId });
    expect((await request.allHeaders()).authorization).toMatch(/^Bearer ey/);
    expect((await request.response())!.status()).toBe(202);
    // The answer never reached the transcript: the stream was abandoned mid-turn.
    expect(await page.locator('[data-testid="transcript"] li[data-role="assistant"]').count()).toBe(0);
    // The backend stopped the turn: the thread keeps the start of the answer, not all of it.
    await expect.poll(async () => (await backendItems("erin", threadId!)).length, { timeout: 10_000 }).toBe(2);
    const [question, partial] = await backendItems("erin", threadId!);
    expect(question.type).toBe("user_message");
    const full = await backendFullAnswer("erin", "What can you do?");
    const stopped = partial.content![0].text;
    expect(full.startsWith(stopped.trimEnd())).toBe(true);
    expect(stopped.length).toBeLessThan(full.length);
    await context.close();
  });
});
