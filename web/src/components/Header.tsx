"use client";

import { signOut } from "@/lib/session";

export function Header({ email }: { email?: string | null }) {
  return (
    <header className="top">
      <a className="brand" href="/">
        ClaudeCloud
      </a>
      <nav aria-label="Account" className="actions" style={{ marginTop: 0, alignItems: "center" }}>
        {email ? (
          <>
            <span className="muted">{email}</span>
            <button type="button" onClick={() => void signOut()}>
              Sign out
            </button>
          </>
        ) : (
          <a className="button" href="/signin/">
            Sign in
          </a>
        )}
      </nav>
    </header>
  );
}
