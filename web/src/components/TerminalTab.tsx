"use client";

import { useEffect, useRef, useState } from "react";
import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";
import { ApiError, socketUrl, ticket } from "@/lib/api";
import { closeVerdict } from "@/lib/closeCodes";
import * as ttyd from "@/lib/ttyd";

type State = { phase: "connecting" | "open" | "closed"; message?: string };
const RETRY_DELAYS = [500, 1000, 2000, 4000, 8000];

/** The instance's terminal (tmux through ttyd's protocol): fitted, resized, reconnecting. */
export default function TerminalTab({ instanceId, running }: { instanceId: string; running: boolean }) {
  const host = useRef<HTMLDivElement>(null);
  const [state, setState] = useState<State>({ phase: "connecting" });
  const [attempt, setAttempt] = useState(0);
  const term = useRef<{ terminal: Terminal; fit: FitAddon } | null>(null);

  useEffect(() => {
    if (!host.current) return;
    const terminal = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 2000, theme: { background: "#000000" } });
    const fit = new FitAddon();
    terminal.loadAddon(fit);
    terminal.open(host.current);
    fit.fit();
    term.current = { terminal, fit };
    const observer = new ResizeObserver(() => fit.fit());
    observer.observe(host.current);
    return () => {
      observer.disconnect();
      term.current = null;
      // After the connection's cleanup (below) has let go of the terminal's events.
      window.setTimeout(() => terminal.dispose(), 0);
    };
  }, []);

  useEffect(() => {
    const parts = term.current;
    if (!parts || !running) {
      setState({ phase: "closed", message: "The workstation is not running. Wake it from the Overview tab." });
      return;
    }
    const { terminal, fit } = parts;
    let socket: WebSocket | null = null;
    let retries = 0;
    let timer: number | undefined;
    let stopped = false;
    let opened = false;
    let connections = 0;
    const listeners: { dispose(): void }[] = [];

    const send = (frame: Uint8Array) => {
      if (socket?.readyState === WebSocket.OPEN) socket.send(frame);
    };
    listeners.push(terminal.onData((data) => send(ttyd.input(data))));
    listeners.push(terminal.onBinary((data) => send(ttyd.input(data))));
    listeners.push(terminal.onResize(({ cols, rows }) => send(ttyd.resize(cols, rows))));

    const retry = (message: string) => {
      if (stopped) return;
      if (retries >= RETRY_DELAYS.length) return setState({ phase: "closed", message });
      setState({ phase: "connecting", message });
      timer = window.setTimeout(open, RETRY_DELAYS[retries++]);
    };

    async function open() {
      setState((s) => ({ phase: "connecting", message: s.message }));
      let issued: string;
      try {
        issued = await ticket(instanceId);
      } catch (e) {
        // A refused ticket means what the same refusal as a close code means (4000 + status).
        if (e instanceof ApiError && e.status < 500) return setState({ phase: "closed", message: closeVerdict(4000 + e.status, e.detail).message });
        return retry("The platform did not answer. Retrying…");
      }
      if (stopped) return;
      opened = false;
      socket = new WebSocket(socketUrl(`/instances/${instanceId}/terminal?ticket=${encodeURIComponent(issued)}`), [ttyd.SUBPROTOCOL]);
      socket.binaryType = "arraybuffer";
      socket.onopen = () => {
        fit.fit();
        socket!.send(ttyd.handshake(terminal.cols, terminal.rows));
      };
      socket.onmessage = (message) => {
        if (typeof message.data === "string") return terminal.write(message.data);
        const frame = ttyd.decode(message.data as ArrayBuffer);
        if (frame.kind === "output") {
          if (!opened) {
            setState({ phase: "open" });
            // Again after a drop: tmux draws the whole screen anew, over a clean terminal.
            if (connections++ > 0) terminal.reset();
          }
          opened = true;
          retries = 0;
          terminal.write(frame.data);
        } else if (frame.kind === "title") document.title = `${frame.title} · ClaudeCloud`;
      };
      socket.onclose = (event) => {
        if (stopped) return;
        const verdict = closeVerdict(event.code, event.reason);
        if (verdict.signIn) window.location.assign("/signin/");
        if (verdict.retry) retry(verdict.message);
        else setState({ phase: "closed", message: verdict.message });
      };
    }

    void open();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
      socket?.close(1000);
      for (const listener of listeners) listener.dispose();
    };
  }, [instanceId, running, attempt]); // eslint-disable-line react-hooks/exhaustive-deps

  const label = state.phase === "open" ? "Connected" : state.phase === "connecting" ? "Connecting…" : "Disconnected";
  return (
    <section aria-labelledby="terminal-title">
      <div className="bar">
        <h2 id="terminal-title" className="sr-only">Terminal</h2>
        <p className="status" role="status" data-testid="terminal-state">
          <span className={`dot ${state.phase}`} aria-hidden="true" />
          {label}
          {state.message && <span className="muted"> — {state.message}</span>}
        </p>
        <button type="button" onClick={() => setAttempt((n) => n + 1)} disabled={state.phase === "open" || !running}>
          Reconnect
        </button>
      </div>
      <div className="terminal" ref={host} aria-label="Terminal" data-testid="terminal" />
      <p className="muted">Claude Code on the left, a shell on the right: Ctrl-b o moves between them.</p>
    </section>
  );
}
