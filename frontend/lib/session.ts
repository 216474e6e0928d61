/**
 * Client secrets for the backend: sign in once, keep the secret fresh, and add it to every
 * request. One renewal at a time; a 401 renews once and retries once, never more.
 */

export type Session = { client_secret: string; expires_at: number };

/** The state the page shows: signed in, "session expired" or "backend unreachable". */
export type ConnectionState = "ok" | "expired" | "unreachable";

/** The backend could not be reached at all (network error, DNS, CORS refusal). */
export class BackendUnreachableError extends Error {
  constructor(cause: unknown) {
    super("The backend cannot be reached.", { cause });
    this.name = "BackendUnreachableError";
  }
}

/** Neither refreshing nor signing in again produced a client secret. */
export class SessionExpiredError extends Error {
  constructor(message = "The session has expired; sign in again.") {
    super(message);
    this.name = "SessionExpiredError";
  }
}

export interface SessionAuthOptions {
  sessionUrl: string;
  /** POST /session: dev body {"user_id"} or the identity provider's token as the bearer. */
  signIn: () => Promise<Session>;
  fetch?: typeof fetch;
  now?: () => number;
  /** Renew this long before `expires_at` (ms). */
  refreshMarginMs?: number;
  onStateChange?: (state: ConnectionState) => void;
}

export interface SessionAuth {
  /** A client secret that is valid for at least the refresh margin. */
  clientSecret(force?: boolean): Promise<string>;
  /** `fetch` with the bearer; renews before expiry and once on a 401, then retries once. */
  authorizedFetch: typeof fetch;
  /** The secret held now, if any (no renewal). */
  peek(): Session | null;
}

/** Wrap `fetch` so a network failure becomes a BackendUnreachableError. */
export function reachable(fetchImpl: typeof fetch): typeof fetch {
  return async (input, init) => {
    try {
      return await fetchImpl(input, init);
    } catch (error) {
      if (error instanceof DOMException && error.name === "AbortError") throw error;
      if (init?.signal?.aborted) throw error;
      throw new BackendUnreachableError(error);
    }
  };
}

export function createSessionAuth(options: SessionAuthOptions): SessionAuth {
  const rawFetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const send = reachable(rawFetch);
  const now = options.now ?? Date.now;
  const margin = options.refreshMarginMs ?? 60_000;
  const notify = options.onStateChange ?? (() => undefined);
  let current: Session | null = null;
  let renewing: Promise<string> | null = null;

  async function renew(): Promise<Session> {
    if (current) {
      const response = await send(`${options.sessionUrl}/session/refresh`, {
        method: "POST",
        headers: { Authorization: `Bearer ${current.client_secret}` },
      });
      if (response.ok) return (await response.json()) as Session;
      // 401: too old to refresh (or a foreign key); sign in again below.
      if (response.status !== 401 && response.status !== 400) {
        throw new Error(`refresh failed (${response.status})`);
      }
    }
    return options.signIn();
  }

  function clientSecret(force = false): Promise<string> {
    const fresh = current !== null && current.expires_at * 1000 - now() > margin;
    if (fresh && !force) return Promise.resolve(current!.client_secret);
    renewing ??= renew()
      .then(
        (session) => {
          current = session;
          notify("ok");
          return session.client_secret;
        },
        (error: unknown) => {
          notify(error instanceof BackendUnreachableError ? "unreachable" : "expired");
          throw error instanceof BackendUnreachableError || error instanceof SessionExpiredError
            ? error
            : new SessionExpiredError(error instanceof Error ? error.message : undefined);
        },
      )
      .finally(() => {
        renewing = null;
      });
    return renewing;
  }

  const authorizedFetch: typeof fetch = async (input, init) => {
    const attempt = async (secret: string) => {
      const headers = new Headers(init?.headers); // keep the caller's own headers
      headers.set("Authorization", `Bearer ${secret}`);
      return send(input, { ...init, headers });
    };
    const used = await clientSecret();
    const response = await attempt(used);
    if (response.status !== 401) return response;
    // Renew once (unless another request already did) and retry once; a second 401 is final.
    const renewed = current && current.client_secret !== used ? current.client_secret : await clientSecret(true);
    const retried = await attempt(renewed);
    if (retried.status === 401) notify("expired");
    return retried;
  };

  return { clientSecret, authorizedFetch, peek: () => current };
}

/** Sign-in request for the backend's dev mode: body {"user_id"}. */
export function devSignIn(sessionUrl: string, userId: string, fetchImpl?: typeof fetch) {
  const send = reachable(fetchImpl ?? ((input, init) => globalThis.fetch(input, init)));
  return async (): Promise<Session> => {
    const response = await send(`${sessionUrl}/session`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user_id: userId }),
    });
    if (!response.ok) throw new SessionExpiredError(`sign-in failed (${response.status})`);
    return (await response.json()) as Session;
  };
}

/** Sign-in request with the identity provider's token as the bearer (OIDC mode). */
export function tokenSignIn(
  sessionUrl: string,
  appToken: () => Promise<string | null>,
  fetchImpl?: typeof fetch,
) {
  const send = reachable(fetchImpl ?? ((input, init) => globalThis.fetch(input, init)));
  return async (): Promise<Session> => {
    const token = await appToken();
    if (!token) throw new SessionExpiredError();
    const response = await send(`${sessionUrl}/session`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}` },
    });
    if (!response.ok) throw new SessionExpiredError(`sign-in failed (${response.status})`);
    return (await response.json()) as Session;
  };
}
