import { describe, expect, it } from "vitest";
import {
  BackendUnreachableError,
  createSessionAuth,
  devSignIn,
  SessionExpiredError,
  type ConnectionState,
  type Session,
} from "@/lib/session";

const SESSION_URL = "http://session.test";
const NOW = 1_700_000_000_000;

interface Call {
  url: string;
  method: string;
  headers: Headers;
  body: unknown;
}

/** A scripted backend: answers each request from `routes`, records every call. */
function backend(routes: Record<string, (call: Call) => Response | Promise<Response>>) {
  const calls: Call[] = [];
  const fetchImpl: typeof fetch = async (input, init) => {
    const url = String(input);
    const call = {
      url,
      method: init?.method ?? "GET",
      headers: new Headers(init?.headers),
      body: init?.body,
    };
    calls.push(call);
    const path = new URL(url).pathname;
    const route = routes[`${call.method} ${path}`];
    if (!route) return new Response("no route", { status: 404 });
    return route(call);
  };
  return { calls, fetchImpl };
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

const session = (secret: string, expiresInS: number): Session => ({
  client_secret: secret,
  expires_at: Math.floor(NOW / 1000) + expiresInS,
});

function auth(fetchImpl: typeof fetch, signIn: () => Promise<Session>, states: ConnectionState[] = []) {
  return createSessionAuth({
    sessionUrl: SESSION_URL,
    signIn,
    fetch: fetchImpl,
    now: () => NOW,
    refreshMarginMs: 60_000,
    onStateChange: (state) => states.push(state),
  });
}

describe("client secret", () => {
  it("signs in once and reuses a secret that is not near expiry", async () => {
    const { fetchImpl } = backend({});
    let signIns = 0;
    const a = auth(fetchImpl, async () => (signIns++, session("s1", 900)));
    expect(await a.clientSecret()).toBe("s1");
    expect(await a.clientSecret()).toBe("s1");
    expect(signIns).toBe(1);
  });

  it("refreshes before expiry with the old secret as the bearer", async () => {
    const { calls, fetchImpl } = backend({
      "POST /session/refresh": () => json(session("s2", 900)),
    });
    let signIns = 0;
    // Expires in 30 s: inside the 60 s margin, so the next use refreshes first.
    const a = auth(fetchImpl, async () => (signIns++, session("s1", 30)));
    expect(await a.clientSecret()).toBe("s1");
    expect(await a.clientSecret()).toBe("s2");
    expect(signIns).toBe(1);
    expect(calls).toHaveLength(1);
    expect(calls[0].headers.get("Authorization")).toBe("Bearer s1");
  });

  it("shares one renewal between concurrent requests", async () => {
    const { calls, fetchImpl } = backend({
      "POST /session/refresh": () => json(session("s2", 900)),
    });
    const a = auth(fetchImpl, async () => session("s1", 10));
    await a.clientSecret();
    const secrets = await Promise.all([a.clientSecret(), a.clientSecret(), a.clientSecret()]);
    expect(secrets).toEqual(["s2", "s2", "s2"]);
    expect(calls.filter((c) => c.url.endsWith("/session/refresh"))).toHaveLength(1);
  });

  it("signs in again when the secret is too old to refresh (401)", async () => {
    const { fetchImpl } = backend({
      "POST /session/refresh": () => json({ error: "unauthorized" }, 401),
    });
    const issued = [session("s1", 10), session("s3", 900)];
    const a = auth(fetchImpl, async () => issued.shift()!);
    await a.clientSecret();
    expect(await a.clientSecret()).toBe("s3");
    expect(issued).toHaveLength(0);
  });

  it("reports 'expired' when signing in again fails, and keeps no secret", async () => {
    const states: ConnectionState[] = [];
    const { fetchImpl } = backend({ "POST /session": () => json({ error: "unauthorized" }, 401) });
    const a = auth(fetchImpl, devSignIn(SESSION_URL, "alice", fetchImpl), states);
    await expect(a.clientSecret()).rejects.toBeInstanceOf(SessionExpiredError);
    expect(states).toEqual(["expired"]);
    expect(a.peek()).toBeNull();
  });

  it("reports 'unreachable' when the backend does not answer", async () => {
    const states: ConnectionState[] = [];
    const down: typeof fetch = async () => {
      throw new TypeError("fetch failed");
    };
    const a = auth(down, devSignIn(SESSION_URL, "alice", down), states);
    await expect(a.clientSecret()).rejects.toBeInstanceOf(BackendUnreachableError);
    expect(states).toEqual(["unreachable"]);
  });

  it("dev sign-in posts the user id", async () => {
    const { calls, fetchImpl } = backend({ "POST /session": () => json(session("s1", 900)) });
    await devSignIn(SESSION_URL, "alice", fetchImpl)();
    expect(JSON.parse(String(calls[0].body))).toEqual({ user_id: "alice" });
  });
});

describe("authorized fetch", () => {
  it("adds the bearer and keeps the caller's own headers and body", async () => {
    const { calls, fetchImpl } = backend({ "POST /chatkit": () => json({ ok: true }) });
    const a = auth(fetchImpl, async () => session("s1", 900));
    const response = await a.authorizedFetch("http://chatkit.test/chatkit", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-ChatKit-Version": "1" },
      body: '{"type":"threads.list"}',
    });
    expect(response.status).toBe(200);
    expect(calls[0].headers.get("Authorization")).toBe("Bearer s1");
    expect(calls[0].headers.get("X-ChatKit-Version")).toBe("1");
    expect(calls[0].headers.get("Content-Type")).toBe("application/json");
    expect(calls[0].body).toBe('{"type":"threads.list"}');
  });

  it("on a 401 renews once and retries the same request once", async () => {
    const seen: string[] = [];
    const { calls, fetchImpl } = backend({
      "POST /chatkit": (call) => {
        seen.push(call.headers.get("Authorization")!);
        return call.headers.get("Authorization") === "Bearer s2" ? json({ ok: true }) : json({}, 401);
      },
      "POST /session/refresh": () => json(session("s2", 900)),
    });
    const a = auth(fetchImpl, async () => session("s1", 900));
    const response = await a.authorizedFetch("http://chatkit.test/chatkit", {
      method: "POST",
      body: '{"type":"threads.create"}',
    });
    expect(response.status).toBe(200);
    expect(seen).toEqual(["Bearer s1", "Bearer s2"]);
    expect(calls.map((c) => new URL(c.url).pathname)).toEqual([
      "/chatkit",
      "/session/refresh",
      "/chatkit",
    ]);
    expect(calls[2].body).toBe('{"type":"threads.create"}');
  });

  it("never loops: a second 401 goes back to the caller and reports 'expired'", async () => {
    const states: ConnectionState[] = [];
    let refreshes = 0;
    const { calls, fetchImpl } = backend({
      "GET /tasks": () => json({ error: "unauthorized" }, 401),
      "POST /session/refresh": () => (refreshes++, json(session(`r${refreshes}`, 900))),
    });
    const a = auth(fetchImpl, async () => session("s1", 900), states);
    const response = await a.authorizedFetch("http://session.test/tasks");
    expect(response.status).toBe(401);
    expect(calls.filter((c) => c.url.endsWith("/tasks"))).toHaveLength(2);
    expect(refreshes).toBe(1);
    expect(states.at(-1)).toBe("expired");
  });

  it("passes other errors through without retrying", async () => {
    const { calls, fetchImpl } = backend({ "GET /tasks/7": () => json({ error: "not_found" }, 404) });
    const a = auth(fetchImpl, async () => session("s1", 900));
    expect((await a.authorizedFetch("http://session.test/tasks/7")).status).toBe(404);
    expect(calls).toHaveLength(1);
  });
});
