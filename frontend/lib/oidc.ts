/** Sign-in with any OIDC provider: authorization code + PKCE through oidc-client-ts. */

import { UserManager, WebStorageStateStore, type User } from "oidc-client-ts";
import type { Settings } from "./settings";

export function oidcConfigured(settings: Settings): boolean {
  return Boolean(settings.oidc.authority && settings.oidc.clientId);
}

export function createUserManager(settings: Settings): UserManager {
  const origin = window.location.origin;
  return new UserManager({
    authority: settings.oidc.authority,
    client_id: settings.oidc.clientId,
    redirect_uri: settings.oidc.redirectUri || `${origin}/`,
    post_logout_redirect_uri: `${origin}/`,
    response_type: "code", // PKCE is on by default for the code flow
    scope: settings.oidc.scope,
    userStore: new WebStorageStateStore({ store: window.sessionStorage }),
    automaticSilentRenew: true,
  });
}

/** Finish a redirect back from the provider (?code=&state=), then clean the address bar. */
export async function completeRedirect(manager: UserManager): Promise<User | null> {
  const params = new URLSearchParams(window.location.search);
  if (!params.has("code") || !params.has("state")) return manager.getUser();
  const user = await manager.signinRedirectCallback();
  window.history.replaceState(null, "", window.location.pathname);
  return user;
}

/** The token the backend's POST /session verifies, if the user is still signed in. */
export function appToken(manager: UserManager, settings: Settings) {
  return async (): Promise<string | null> => {
    const user = await manager.getUser();
    if (!user || user.expired) return null;
    return (settings.oidc.token === "access" ? user.access_token : user.id_token) ?? null;
  };
}
