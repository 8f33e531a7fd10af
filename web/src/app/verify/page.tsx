"use client";

import { useEffect, useState } from "react";
import { Header } from "@/components/Header";

type State = { phase: "ready" | "busy" | "failed" | "missing"; message?: string };

/** The sign-in link's page. Opening it spends nothing (mail scanners open links); the button does. */
export default function Verify() {
  const [token, setToken] = useState<string | null>(null);
  const [state, setState] = useState<State>({ phase: "ready" });

  useEffect(() => {
    const found = new URLSearchParams(window.location.search).get("token");
    // Keep the link out of the address bar and the history once it is read.
    window.history.replaceState(null, "", window.location.pathname);
    if (found) setToken(found);
    else setState({ phase: "missing" });
  }, []);

  async function signIn() {
    setState({ phase: "busy" });
    // A browser's answer is the session cookie and a redirect (followed here); a refusal is a
    // short page whose paragraph says why.
    const response = await fetch("/auth/verify", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token }),
    }).catch(() => null);
    if (!response) return setState({ phase: "failed", message: "The sign-in service did not answer. Try again." });
    if (!response.ok) {
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const why = page.querySelector("p")?.textContent?.trim();
      return setState({ phase: "failed", message: why || "This link cannot sign you in." });
    }
    window.location.assign("/dashboard/");
  }

  return (
    <>
      <Header />
      <main id="main" className="narrow">
        <h1>Sign in to ClaudeCloud</h1>
        {state.phase === "missing" ? (
          <p className="error" role="alert">
            This page needs the link from your sign-in mail. <a href="/signin/">Ask for a new one</a>.
          </p>
        ) : (
          <>
            <p>Press the button to sign in on this browser. The link works once, within 15 minutes of the mail.</p>
            <button className="primary" type="button" onClick={() => void signIn()} disabled={!token || state.phase === "busy"}>
              {state.phase === "busy" ? "Signing in…" : "Sign in"}
            </button>
            {state.phase === "failed" && (
              <p className="error" role="alert">
                {state.message} <a href="/signin/">Ask for a new link</a>.
              </p>
            )}
          </>
        )}
      </main>
    </>
  );
}
