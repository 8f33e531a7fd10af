"use client";

import { useEffect, useState } from "react";
import { ApiError, api } from "@/lib/api";

type SshKey = { public_key: string; fingerprint: string; path: string };

/** The workstation's SSH public key (made on its first start), to add to a git provider. */
export function SshKeyCard(props: { instanceId: string }) {
  const [key, setKey] = useState<SshKey | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);

  useEffect(() => {
    api<SshKey>(`/instances/${props.instanceId}/ssh-key`).then(setKey, (e: unknown) =>
      setProblem(e instanceof ApiError ? e.detail : "The workstation did not show its key."),
    );
  }, [props.instanceId]);

  async function copy() {
    if (!key) return;
    await navigator.clipboard.writeText(key.public_key);
    setCopied(true);
    window.setTimeout(() => setCopied(false), 2000);
  }

  return (
    <section className="card" aria-labelledby="ssh-title">
      <h2 id="ssh-title">SSH key</h2>
      {problem && <p className="muted">{problem}</p>}
      {key && (
        <>
          <p className="muted">Prefer SSH to the connected account? Add this key to your git provider (GitHub: Settings → SSH and GPG keys).</p>
          <div className="command">
            <code aria-label="SSH public key" data-testid="ssh-key">{key.public_key}</code>
            <button type="button" onClick={() => void copy()}>{copied ? "Copied" : "Copy"}</button>
          </div>
          <p className="muted mono">{key.fingerprint} · ~/{key.path}</p>
        </>
      )}
    </section>
  );
}
