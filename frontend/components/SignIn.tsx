"use client";

import { useState } from "react";

/** Dev mode (AUTH_MODE=dev): pick any user id; the backend trusts it only locally. */
export function DevUserPicker({ users, onPick }: { users: string[]; onPick: (user: string) => void }) {
  const [custom, setCustom] = useState("");
  return (
    <section className="signin" aria-labelledby="signin-title">
      <h1 id="signin-title">Todo assistant</h1>
      <p>Development sign-in: choose a user. Each user sees only their own tasks and chats.</p>
      <div className="users">
        {users.map((user) => (
          <button key={user} type="button" onClick={() => onPick(user)}>
            Sign in as {user}
          </button>
        ))}
      </div>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          if (custom.trim()) onPick(custom.trim());
        }}
      >
        <label>
          Another user id{" "}
          <input
            value={custom}
            onChange={(event) => setCustom(event.target.value)}
            pattern="[A-Za-z0-9_.@:|+\-]{1,128}"
            placeholder="dana"
          />
        </label>
        <button type="submit">Sign in</button>
      </form>
    </section>
  );
}

export function OidcSignIn({ onSignIn, error }: { onSignIn: () => void; error?: string }) {
  return (
    <section className="signin" aria-labelledby="signin-title">
      <h1 id="signin-title">Todo assistant</h1>
      <p>Sign in with your account to see your tasks.</p>
      {error ? <p className="error">{error}</p> : null}
      <button type="button" onClick={onSignIn}>
        Sign in
      </button>
    </section>
  );
}
