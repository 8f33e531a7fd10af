"use client";

import { useEffect, useReducer, useRef, useState } from "react";
import { api, ApiError, socketUrl, ticket } from "@/lib/api";
import { empty, prompted, received, withHistory, type ChatHistory, type Transcript } from "@/lib/chat";
import { closeVerdict } from "@/lib/closeCodes";

type Action =
  | { type: "prompt"; text: string }
  | { type: "event"; event: Record<string, unknown> }
  | { type: "history"; history: ChatHistory }
  | { type: "reset" };

function reducer(t: Transcript, action: Action): Transcript {
  if (action.type === "prompt") return prompted(t, action.text);
  if (action.type === "event") return received(t, action.event);
  if (action.type === "history") return withHistory(t, action.history);
  return empty;
}

type Phase = "connecting" | "open" | "closed";

/** Chat with Claude on the instance, in one project's folder. It continues the folder's previous
 * conversation (shown first, from Claude's own transcripts), until New conversation. */
export function ChatTab(props: { instanceId: string; running: boolean; cwd: string; projects: string[]; onCwd: (cwd: string) => void }) {
  const [transcript, dispatch] = useReducer(reducer, empty);
  const [phase, setPhase] = useState<Phase>("connecting");
  const [message, setMessage] = useState<string | null>(null);
  const [draft, setDraft] = useState("");
  const [attempt, setAttempt] = useState(0);
  const socket = useRef<WebSocket | null>(null);
  const end = useRef<HTMLDivElement>(null);
  const continuing = useRef(true);

  useEffect(() => {
    if (!props.running) {
      setPhase("closed");
      setMessage("The workstation is not running. Wake it from the Overview tab.");
      return;
    }
    let stopped = false;
    dispatch({ type: "reset" });
    continuing.current = true;
    setPhase("connecting");
    setMessage(null);
    const folder = new URLSearchParams({ cwd: props.cwd });
    api<ChatHistory>(`/instances/${props.instanceId}/chat/history?${folder}`)
      .then((history) => {
        if (!stopped && continuing.current) dispatch({ type: "history", history });
      })
      .catch(() => {
        /* the previous conversation is a nicety: the chat works without it */
      });
    (async () => {
      let issued: string;
      try {
        issued = await ticket(props.instanceId);
      } catch (e) {
        setPhase("closed");
        const refused = e instanceof ApiError && e.status < 500;
        setMessage(refused ? closeVerdict(4000 + e.status, e.detail).message : "The platform did not answer.");
        return;
      }
      if (stopped) return;
      const query = new URLSearchParams({ ticket: issued, cwd: props.cwd });
      const ws = new WebSocket(socketUrl(`/instances/${props.instanceId}/chat?${query}`));
      socket.current = ws;
      ws.onopen = () => setPhase("open");
      ws.onmessage = (m) => {
        try {
          dispatch({ type: "event", event: JSON.parse(String(m.data)) });
        } catch {
          /* not JSON: nothing to show */
        }
      };
      ws.onclose = (event) => {
        if (stopped) return;
        const verdict = closeVerdict(event.code, event.reason);
        if (verdict.signIn) window.location.assign("/signin/");
        setPhase("closed");
        setMessage(verdict.message.replace(" Reconnecting…", " Press Reconnect."));
      };
    })();
    return () => {
      stopped = true;
      socket.current?.close(1000);
      socket.current = null;
    };
  }, [props.instanceId, props.running, props.cwd, attempt]);

  useEffect(() => {
    // A block body: scrollIntoView returns a promise in newer browsers, and an effect must
    // return nothing or its clean-up.
    void end.current?.scrollIntoView?.({ block: "end" });
  }, [transcript]);

  function startNew() {
    if (socket.current?.readyState !== WebSocket.OPEN || transcript.busy) return;
    socket.current.send(JSON.stringify({ type: "new" }));
    continuing.current = false;
    dispatch({ type: "reset" });
  }

  function send(event: React.FormEvent) {
    event.preventDefault();
    const text = draft.trim();
    if (!text || socket.current?.readyState !== WebSocket.OPEN || transcript.busy) return;
    socket.current.send(JSON.stringify({ type: "prompt", text }));
    dispatch({ type: "prompt", text });
    setDraft("");
  }

  const folders = Array.from(new Set([".", ...props.projects, props.cwd]));
  return (
    <section aria-labelledby="chat-title">
      <div className="bar">
        <h2 id="chat-title" className="sr-only">Chat</h2>
        <p className="status" role="status" data-testid="chat-state">
          <span className={`dot ${phase}`} aria-hidden="true" />
          {phase === "open" ? (transcript.busy ? "Claude is working…" : "Connected") : phase === "connecting" ? "Connecting…" : "Disconnected"}
          {message && <span className="muted"> — {message}</span>}
        </p>
        <div className="actions" style={{ marginTop: 0 }}>
          <label htmlFor="cwd" className="sr-only">Working folder</label>
          <select id="cwd" value={props.cwd} onChange={(e) => props.onCwd(e.target.value)} style={{ width: "auto" }}>
            {folders.map((f) => (
              <option key={f} value={f}>{f === "." ? "/claude-data (all projects)" : f}</option>
            ))}
          </select>
          <button type="button" onClick={startNew} disabled={phase !== "open" || transcript.busy}>
            New conversation
          </button>
          <button type="button" onClick={() => setAttempt((n) => n + 1)} disabled={phase !== "closed" || !props.running}>
            Reconnect
          </button>
        </div>
      </div>
      <div className="transcript card" aria-live="polite" data-testid="transcript">
        {transcript.entries.length === 0 && <p className="muted">Ask Claude something about {props.cwd === "." ? "your projects" : props.cwd}.</p>}
        {transcript.entries.map((entry, i) => {
          if (entry.kind === "user") return <div key={i} className="msg user">{entry.text}</div>;
          if (entry.kind === "assistant") return <div key={i} className="msg assistant" data-testid="reply">{entry.text}</div>;
          if (entry.kind === "error") return <div key={i} className="msg error" role="alert">{entry.text}</div>;
          if (entry.kind === "done") return <div key={i} className="msg done">{entry.summary}</div>;
          if (entry.kind === "status") return <div key={i} className="msg done" role="status">{entry.text}</div>;
          if (entry.kind === "divider") return <p key={i} className="muted divider" data-testid="continuing">{entry.text}</p>;
          if (entry.kind === "earlier") {
            if (entry.role === "tool") return <div key={i} className="msg tool-line earlier">Tool: {entry.text}{entry.isError ? " (failed)" : ""}</div>;
            return <div key={i} className={`msg ${entry.role} earlier`} data-testid="earlier">{entry.text}</div>;
          }
          return (
            <details key={i} className="tool">
              <summary>
                Tool: <strong>{entry.call.name}</strong>
                {entry.call.result === undefined ? " (running…)" : entry.call.isError ? " (failed)" : " (done)"}
              </summary>
              <pre>{JSON.stringify(entry.call.input, null, 2)}</pre>
              {entry.call.result !== undefined && <pre>{entry.call.result}</pre>}
            </details>
          );
        })}
        <div ref={end} />
      </div>
      <form className="composer" onSubmit={send}>
        <label htmlFor="prompt" className="sr-only">Message to Claude</label>
        <textarea
          id="prompt"
          value={draft}
          placeholder="Message Claude (Enter sends, Shift+Enter for a new line)"
          onChange={(e) => setDraft(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey) send(e);
          }}
        />
        {transcript.busy ? (
          <button type="button" className="danger" onClick={() => socket.current?.send(JSON.stringify({ type: "interrupt" }))}>
            Stop
          </button>
        ) : (
          <button type="submit" className="primary" disabled={phase !== "open" || !draft.trim()}>
            Send
          </button>
        )}
      </form>
    </section>
  );
}
