/**
 * Build-time settings (a static export bakes NEXT_PUBLIC_* in at `next build`).
 * Each variable is read by its literal name so Next.js can inline it.
 */

const trim = (url: string) => url.replace(/\/+$/, "");

export const settings = {
  chatkitUrl: trim(process.env.NEXT_PUBLIC_CHATKIT_URL || "http://127.0.0.1:8000"),
  sessionUrl: trim(process.env.NEXT_PUBLIC_SESSION_URL || "http://127.0.0.1:8000"),
  domainKey: process.env.NEXT_PUBLIC_CHATKIT_DOMAIN_KEY || "local-dev",
  /** "dev" forces the user picker; otherwise the backend's /config decides. */
  authMode: process.env.NEXT_PUBLIC_AUTH_MODE || "",
  oidc: {
    authority: process.env.NEXT_PUBLIC_OIDC_AUTHORITY || "",
    clientId: process.env.NEXT_PUBLIC_OIDC_CLIENT_ID || "",
    scope: process.env.NEXT_PUBLIC_OIDC_SCOPE || "openid profile email",
    /** Which of the provider's tokens the backend verifies: "id" (default) or "access". */
    token: process.env.NEXT_PUBLIC_OIDC_TOKEN === "access" ? "access" : "id",
    redirectUri: process.env.NEXT_PUBLIC_OIDC_REDIRECT_URI || "",
  },
  /** Users offered by the dev-mode picker. */
  devUsers: (process.env.NEXT_PUBLIC_DEV_USERS || "alice,bob,carol").split(",").filter(Boolean),
} as const;

export type Settings = typeof settings;

/** The script that defines the <openai-chatkit> web component. */
export const CHATKIT_SCRIPT_URL = "https://cdn.platform.openai.com/deployments/chatkit/chatkit.js";
