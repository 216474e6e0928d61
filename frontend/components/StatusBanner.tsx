"use client";

export type Status =
  | { kind: "signing-in" }
  | { kind: "expired" }
  | { kind: "unreachable"; detail?: string }
  | { kind: "error"; detail: string };

const TEXT: Record<Status["kind"], string> = {
  "signing-in": "Signing in…",
  expired: "Your session has expired. Sign in again to continue.",
  unreachable: "The backend is unreachable. Check that it is running, then retry.",
  error: "Something went wrong.",
};

export function StatusBanner({
  status,
  action,
}: {
  status: Status;
  action?: { label: string; run: () => void };
}) {
  return (
    <div className={`banner banner-${status.kind}`} role="status" data-status={status.kind}>
      <span>{TEXT[status.kind]}</span>
      {"detail" in status && status.detail ? <span className="detail">{status.detail}</span> : null}
      {action ? (
        <button type="button" onClick={action.run}>
          {action.label}
        </button>
      ) : null}
    </div>
  );
}
