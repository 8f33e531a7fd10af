"use client";

// "Where you left off": when and why the workstation paused, and what the checkpoint before its
// last stop saved (GET /instances/{id}/checkpoint): each dirty repository's uncommitted work on a
// claudecloud/wip/… branch, and the last prompt to Claude.
import { useEffect, useState } from "react";
import { api } from "@/lib/api";
import type { Status } from "@/lib/instance";

type Repo = {
  path: string;
  outcome: "saved" | "clean" | "failed" | "not_reached";
  branch: string | null;
  ref: string | null;
  files_changed: number;
  left_out: string[];
  note: string | null;
};

export type LeftOffView = {
  status: Status;
  pause_reason: string | null;
  paused_at: string | null;
  checkpoint: { taken_at: string; repositories: Repo[]; last_prompt: string | null; complete: boolean } | null;
  checkpoint_error: string | null;
};

function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : "—";
}

export function LeftOff({ instanceId, status }: { instanceId: string; status: Status }) {
  const [view, setView] = useState<LeftOffView | null>(null);
  useEffect(() => {
    let live = true;
    api<LeftOffView>(`/instances/${instanceId}/checkpoint`).then(
      (found) => live && setView(found),
      () => live && setView(null),
    );
    return () => {
      live = false;
    };
  }, [instanceId, status]);
  if (!view || (!view.checkpoint && !view.checkpoint_error && !view.paused_at)) return null;
  const saved = view.checkpoint?.repositories.filter((r) => r.outcome === "saved") ?? [];
  const trouble = view.checkpoint?.repositories.filter((r) => r.outcome === "failed" || r.note) ?? [];
  return (
    <section className="card" aria-labelledby="left-off-title" data-testid="left-off">
      <h2 id="left-off-title">Where you left off</h2>
      {view.paused_at && (
        <p>
          Paused {when(view.paused_at)}
          {view.pause_reason ? ` (${view.pause_reason.replace("_", " ")})` : ""}.
        </p>
      )}
      {view.checkpoint && (
        <>
          <p className="muted">Checkpoint of {when(view.checkpoint.taken_at)}{view.checkpoint.complete ? "" : " (cut short)"}.</p>
          {saved.length === 0 ? (
            <p>No uncommitted work needed saving.</p>
          ) : (
            <ul>
              {saved.map((r) => (
                <li key={r.path}>
                  <code>{r.path}</code>: {r.files_changed} file{r.files_changed === 1 ? "" : "s"} saved on <code>{r.ref}</code>
                  {r.branch ? <> (your branch <code>{r.branch}</code> is untouched)</> : null}
                </li>
              ))}
            </ul>
          )}
          {trouble.map((r) => (
            <p key={`note-${r.path}`} className="muted">
              <code>{r.path}</code>: {r.note ?? r.outcome}
            </p>
          ))}
          {view.checkpoint.last_prompt && (
            <p>
              Last prompt to Claude: <q>{view.checkpoint.last_prompt}</q>
            </p>
          )}
        </>
      )}
      {view.checkpoint_error && <p className="muted">No checkpoint: {view.checkpoint_error}</p>}
    </section>
  );
}
