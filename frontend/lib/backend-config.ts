/** GET {SESSION_URL}/config: how the backend wants the composer set up (defaults if absent). */

import type { ModelOption, ToolOption } from "@openai/chatkit-react";

export interface BackendConfig {
  auth_mode: "dev" | "oidc" | null;
  models: ModelOption[];
  composer_tools: ToolOption[];
  attachments: { enabled: boolean; max_bytes: number; accept: Record<string, string[]> };
}

export const DEFAULT_CONFIG: BackendConfig = {
  auth_mode: null,
  models: [],
  composer_tools: [],
  attachments: { enabled: false, max_bytes: 0, accept: {} },
};

/** Thrown when the backend does not answer at all. */
export class ConfigUnreachableError extends Error {}

export async function loadBackendConfig(
  sessionUrl: string,
  fetchImpl: typeof fetch = (input, init) => globalThis.fetch(input, init),
): Promise<BackendConfig> {
  let response: Response;
  try {
    response = await fetchImpl(`${sessionUrl}/config`);
  } catch (error) {
    throw new ConfigUnreachableError("The backend cannot be reached.", { cause: error });
  }
  if (!response.ok) return DEFAULT_CONFIG; // an older backend without /config
  const body = (await response.json().catch(() => ({}))) as Partial<BackendConfig>;
  return {
    auth_mode: body.auth_mode === "dev" || body.auth_mode === "oidc" ? body.auth_mode : null,
    models: Array.isArray(body.models) ? body.models : [],
    composer_tools: Array.isArray(body.composer_tools) ? body.composer_tools : [],
    attachments: { ...DEFAULT_CONFIG.attachments, ...(body.attachments ?? {}) },
  };
}
