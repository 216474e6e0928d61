"use client";

import { useCallback, useEffect, useRef, useState } from "react";
import type { UserManager } from "oidc-client-ts";
import {
  ConfigUnreachableError,
  loadBackendConfig,
  type BackendConfig,
} from "@/lib/backend-config";
import { appToken, completeRedirect, createUserManager, oidcConfigured } from "@/lib/oidc";
import {
  BackendUnreachableError,
  createSessionAuth,
  devSignIn,
  tokenSignIn,
  type ConnectionState,
  type SessionAuth,
} from "@/lib/session";
import { settings } from "@/lib/settings";
import { Dashboard } from "./Dashboard";
import { DevUserPicker, OidcSignIn } from "./SignIn";
import { StatusBanner, type Status } from "./StatusBanner";

const DEV_USER_KEY = "todo-assistant.dev-user";

type Phase =
  | { name: "starting" }
  | { name: "unreachable" }
  | { name: "pick-user" }
  | { name: "oidc-sign-in"; error?: string }
  | { name: "signing-in" }
  | { name: "signed-in"; auth: SessionAuth; user: string };

export function App() {
  const [config, setConfig] = useState<BackendConfig | null>(null);
  const [phase, setPhase] = useState<Phase>({ name: "starting" });
  const [connection, setConnection] = useState<ConnectionState>("ok");
  const oidc = useRef<UserManager | null>(null);

  const devMode = settings.authMode === "dev" || config?.auth_mode === "dev";
  const devModeRef = useRef(devMode);
  devModeRef.current = devMode;

  const start = useCallback(
    async (user: string, signIn: () => Promise<{ client_secret: string; expires_at: number }>) => {
      setPhase({ name: "signing-in" });
      const auth = createSessionAuth({
        sessionUrl: settings.sessionUrl,
        signIn,
        onStateChange: setConnection,
      });
      try {
        await auth.clientSecret();
        setConnection("ok");
        setPhase({ name: "signed-in", auth, user });
      } catch (error) {
        if (error instanceof BackendUnreachableError) setPhase({ name: "unreachable" });
        else if (devModeRef.current || !oidc.current) setPhase({ name: "pick-user" });
        else setPhase({ name: "oidc-sign-in", error: (error as Error).message });
      }
    },
    [],
  );

  const signInDev = useCallback(
    (user: string) => {
      window.sessionStorage.setItem(DEV_USER_KEY, user);
      void start(user, devSignIn(settings.sessionUrl, user));
    },
    [start],
  );

  const boot = useCallback(async () => {
    setPhase({ name: "starting" });
    let loaded: BackendConfig;
    try {
      loaded = await loadBackendConfig(settings.sessionUrl);
    } catch (error) {
      if (error instanceof ConfigUnreachableError) return setPhase({ name: "unreachable" });
      throw error;
    }
    setConfig(loaded);
    const dev = settings.authMode === "dev" || loaded.auth_mode === "dev";
    devModeRef.current = dev;
    if (!dev && oidcConfigured(settings)) {
      const manager = (oidc.current ??= createUserManager(settings));
      try {
        const user = await completeRedirect(manager);
        if (!user || user.expired) return setPhase({ name: "oidc-sign-in" });
        const name = String(user.profile.email ?? user.profile.preferred_username ?? user.profile.sub);
        return start(name, tokenSignIn(settings.sessionUrl, appToken(manager, settings)));
      } catch (error) {
        return setPhase({ name: "oidc-sign-in", error: (error as Error).message });
      }
    }
    if (!dev && loaded.auth_mode === "oidc") {
      return setPhase({
        name: "oidc-sign-in",
        error: "The backend needs OIDC sign-in, but this build has no NEXT_PUBLIC_OIDC_* settings.",
      });
    }
    // Dev mode, or a backend too old to say (the local stack): the user picker.
    const remembered = window.sessionStorage.getItem(DEV_USER_KEY);
    if (remembered) return start(remembered, devSignIn(settings.sessionUrl, remembered));
    setPhase({ name: "pick-user" });
  }, [start]);

  useEffect(() => {
    void boot();
  }, [boot]);

  const signOut = useCallback(() => {
    window.sessionStorage.removeItem(DEV_USER_KEY);
    setConnection("ok");
    if (oidc.current && !devMode) void oidc.current.signoutRedirect().catch(() => undefined);
    setPhase(devMode || !oidc.current ? { name: "pick-user" } : { name: "oidc-sign-in" });
  }, [devMode]);

  const signInAgain = useCallback(() => {
    if (devMode || !oidc.current) {
      const user = phase.name === "signed-in" ? phase.user : null;
      if (user) return signInDev(user);
      return setPhase({ name: "pick-user" });
    }
    void oidc.current.signinRedirect();
  }, [devMode, phase, signInDev]);

  let banner: { status: Status; action?: { label: string; run: () => void } } | null = null;
  if (phase.name === "starting" || phase.name === "signing-in") {
    banner = { status: { kind: "signing-in" } };
  } else if (phase.name === "unreachable" || connection === "unreachable") {
    banner = { status: { kind: "unreachable" }, action: { label: "Retry", run: () => void boot() } };
  } else if (connection === "expired") {
    banner = { status: { kind: "expired" }, action: { label: "Sign in again", run: signInAgain } };
  }

  return (
    <main className="app">
      {banner ? <StatusBanner status={banner.status} action={banner.action} /> : null}
      {phase.name === "pick-user" ? (
        <DevUserPicker users={[...settings.devUsers]} onPick={signInDev} />
      ) : null}
      {phase.name === "oidc-sign-in" ? (
        <OidcSignIn
          error={phase.error}
          onSignIn={() => void oidc.current?.signinRedirect()}
        />
      ) : null}
      {phase.name === "signed-in" && config ? (
        <Dashboard
          key={phase.user}
          auth={phase.auth}
          config={config}
          user={phase.user}
          onSignOut={signOut}
          onUnreachable={() => setConnection("unreachable")}
        />
      ) : null}
    </main>
  );
}
