"use client";

import { useState } from "react";
import { Header } from "@/components/Header";
import { ApiError, post } from "@/lib/api";

export default function SignIn() {
  const [email, setEmail] = useState("");
  const [sent, setSent] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const plan = new URLSearchParams(window.location.search).get("plan");
      if (plan) window.sessionStorage.setItem("plan", plan);
      await post("/auth/login", { email });
      setSent(email);
    } catch (e) {
      setError(e instanceof ApiError ? e.detail : "The sign-in service did not answer. Try again.");
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <Header />
      <main id="main" className="narrow">
        {sent ? (
          <section aria-live="polite">
            <h1>Check your email</h1>
            <p>
              We sent a sign-in link to <strong>{sent}</strong>. Open it on this device within 15 minutes; it works
              once.
            </p>
            <button type="button" onClick={() => setSent(null)}>
              Use another address
            </button>
          </section>
        ) : (
          <form onSubmit={submit} noValidate={false}>
            <h1>Sign in</h1>
            <p className="muted">No password: we email you a link.</p>
            <label htmlFor="email">Email address</label>
            <input
              id="email"
              type="email"
              name="email"
              autoComplete="email"
              required
              maxLength={320}
              value={email}
              onChange={(e) => setEmail(e.target.value)}
              aria-describedby={error ? "email-error" : undefined}
              aria-invalid={error ? true : undefined}
            />
            {error && (
              <p id="email-error" className="error" role="alert">
                {error}
              </p>
            )}
            <div className="actions">
              <button className="primary" type="submit" disabled={busy}>
                {busy ? "Sending…" : "Email me a link"}
              </button>
            </div>
          </form>
        )}
      </main>
    </>
  );
}
