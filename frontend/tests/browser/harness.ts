/**
 * The browser tests' real parts: the Python local stack (`todo-dev`, moto embedded) on a free
 * loopback port, `next build` of the static export pointed at it, a static file server for
 * out/ on another port, and Debian's chromium driven by playwright-core.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { createServer as createNetServer } from "node:net";
import { extname, join, normalize, resolve } from "node:path";
import { chromium, type Browser } from "playwright-core";

export const FRONTEND = resolve(__dirname, "../..");
export const REPO = resolve(FRONTEND, "..");
export const OUT = join(FRONTEND, "out");
/** The key `make dev` uses too: a development key, refused by anything deployed. */
export const DEV_SIGNING_KEY = "dev-insecure-local-signing-key-change-me-0123456789";

export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createNetServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => done(typeof address === "object" && address ? address.port : 0));
    });
  });
}

function run(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }) {
  return new Promise<void>((done, fail) => {
    const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    child.on("error", fail);
    child.on("exit", (code) =>
      code === 0 ? done() : fail(new Error(`${command} ${args.join(" ")} exited ${code}\n${output}`)),
    );
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Backend {
  url: string;
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

/** `.venv/bin/todo-dev --port N`: the same stack `make dev` runs, CORS for the page's origin. */
export async function startBackend(webOrigin: string): Promise<Backend> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    CORS_ALLOW_ORIGINS: JSON.stringify([webOrigin]),
    TOKEN_SIGNING_KEY: DEV_SIGNING_KEY,
    MODEL_PROVIDER: "local",
    // Long replies stream for a while, so Stop can land mid-turn.
    LOCAL_MODEL_DELAY_MS: "150",
    OPENAI_API_KEY: "",
  };
  const child: ChildProcess = spawn(join(REPO, ".venv/bin/todo-dev"), ["--port", String(port)], {
    cwd: REPO,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk) => (output += chunk));
  child.stderr?.on("data", (chunk) => (output += chunk));
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`todo-dev exited ${child.exitCode}\n${output}`);
    if (Date.now() > deadline) throw new Error(`todo-dev did not answer /healthz\n${output}`);
    const healthy = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
    if (healthy) break;
    await sleep(200);
  }
  return {
    url,
    env,
    async stop() {
      child.kill("SIGINT");
      await Promise.race([exited, sleep(5_000).then(() => child.kill("SIGKILL"))]);
    },
  };
}

/** `next build` with the stack's URLs baked in; the static export lands in out/. */
export async function buildFrontend(backendUrl: string): Promise<void> {
  await run(join(FRONTEND, "node_modules/.bin/next"), ["build"], {
    cwd: FRONTEND,
    env: {
      ...process.env,
      NEXT_TELEMETRY_DISABLED: "1",
      NEXT_PUBLIC_CHATKIT_URL: backendUrl,
      NEXT_PUBLIC_SESSION_URL: backendUrl,
      NEXT_PUBLIC_AUTH_MODE: "",
    },
  });
  if (!existsSync(join(OUT, "index.html"))) throw new Error("next build wrote no out/index.html");
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".css": "text/css",
  ".txt": "text/plain",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
};

/** A static file server for out/ (what S3 + CloudFront do in AWS). */
export async function serveStatic(port: number): Promise<Server> {
  const server = createServer(async (request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url ?? "/", "http://x").pathname));
    let file = join(OUT, path.endsWith("/") ? `${path}index.html` : path);
    if (!file.startsWith(OUT)) return response.writeHead(403).end();
    if (!extname(file) && existsSync(`${file}.html`)) file = `${file}.html`;
    try {
      const body = await readFile(file);
      response.writeHead(200, { "Content-Type": TYPES[extname(file)] ?? "application/octet-stream" });
      response.end(body);
    } catch {
      response.writeHead(404).end("not found");
    }
  });
  await new Promise<void>((done) => server.listen(port, "127.0.0.1", done));
  return server;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A client secret minted with the dev key that expired `ageSeconds` ago minus its lifetime. */
export async function mintExpiredSecret(env: NodeJS.ProcessEnv, user: string): Promise<string> {
  const script = [
    "import sys, time",
    "from todo_assistant.auth.client_secrets import ClientSecretService",
    "from todo_assistant.config import Settings",
    "from todo_assistant_dev.mint_secret import dev_signing_keys",
    "s = Settings(); k = dev_signing_keys(s)",
    "svc = ClientSecretService(k.keys, k.current_kid, audience=s.token_audience,",
    "    issuer=s.token_issuer, ttl_seconds=s.client_secret_ttl_seconds)",
    // Issued one lifetime + 60 s ago: expired a minute ago, still inside the refresh grace.
    "print(svc.issue(sys.argv[1], now=time.time() - s.client_secret_ttl_seconds - 60).client_secret)",
  ].join("\n");
  return new Promise((done, fail) => {
    const child = spawn(join(REPO, ".venv/bin/python"), ["-c", script, user], {
      cwd: REPO,
      env: { ...env, AUTH_MODE: "dev", ENVIRONMENT_NAME: "local" },
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (err += c));
    child.on("exit", (code) => (code === 0 ? done(out.trim()) : fail(new Error(err))));
  });
}
