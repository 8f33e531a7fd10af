// A chat transcript built from the agent's events (services/agent/.../chat.py): each turn streams
// "text", "tool_use" and "tool_result" events and ends with "done" or "error".

export type ToolCall = {
  id: string;
  name: string;
  input: unknown;
  result?: string;
  isError?: boolean;
};

export type Entry =
  | { kind: "user"; text: string }
  | { kind: "assistant"; text: string }
  | { kind: "tool"; call: ToolCall }
  | { kind: "error"; text: string }
  | { kind: "done"; summary: string }
  | { kind: "status"; text: string }
  | { kind: "earlier"; role: "user" | "assistant" | "tool"; text: string; isError: boolean }
  | { kind: "divider"; text: string };

/** The previous conversation in a folder, as the agent reads it from Claude's transcripts
 * (GET /instances/{id}/chat/history): the one the chat continues. */
export type HistoryMessage = { role: "user" | "assistant" | "tool"; text: string; tool?: string | null; is_error?: boolean };
export type ChatHistory = {
  cwd: string;
  session_id: string | null;
  updated_at: string | null;
  messages: HistoryMessage[];
  truncated: boolean;
};

export type Transcript = { entries: Entry[]; busy: boolean };

export const empty: Transcript = { entries: [], busy: false };

/** The transcript with the previous conversation before what this connection has shown. */
export function withHistory(t: Transcript, history: ChatHistory, locale?: string): Transcript {
  if (history.messages.length === 0) return t;
  const earlier: Entry[] = history.messages.map((m) => ({ kind: "earlier", role: m.role, text: m.text, isError: Boolean(m.is_error) }));
  const when = history.updated_at ? ` (last active ${new Date(history.updated_at).toLocaleString(locale)})` : "";
  const cut: Entry[] = history.truncated ? [{ kind: "divider", text: "Earlier messages are not shown" }] : [];
  const joined: Entry = { kind: "divider", text: `Claude continues this conversation${when}. New conversation starts afresh.` };
  return { ...t, entries: [...cut, ...earlier, joined, ...t.entries] };
}

export function prompted(t: Transcript, text: string): Transcript {
  return { entries: [...t.entries, { kind: "user", text }], busy: true };
}

function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => (part && typeof part === "object" && "text" in part ? String(part.text) : JSON.stringify(part)))
      .join("\n");
  }
  return content == null ? "" : JSON.stringify(content);
}

/** The transcript after one event from the agent. */
export function received(t: Transcript, event: Record<string, unknown>): Transcript {
  const entries = [...t.entries];
  switch (event.type) {
    case "text": {
      const last = entries[entries.length - 1];
      const text = String(event.text ?? "");
      // Each event is one text block of Claude's; blocks of one reply read as paragraphs.
      if (last?.kind === "assistant") entries[entries.length - 1] = { kind: "assistant", text: `${last.text}\n\n${text}` };
      else entries.push({ kind: "assistant", text });
      return { entries, busy: true };
    }
    case "tool_use":
      entries.push({
        kind: "tool",
        call: { id: String(event.id ?? ""), name: String(event.name ?? "tool"), input: event.input },
      });
      return { entries, busy: true };
    case "tool_result": {
      const index = entries.findIndex((e) => e.kind === "tool" && e.call.id === event.tool_use_id);
      if (index >= 0) {
        const entry = entries[index] as { kind: "tool"; call: ToolCall };
        entries[index] = {
          kind: "tool",
          call: { ...entry.call, result: contentText(event.content), isError: Boolean(event.is_error) },
        };
      }
      return { entries, busy: true };
    }
    case "done": {
      const seconds = typeof event.duration_ms === "number" ? ` in ${(event.duration_ms / 1000).toFixed(1)} s` : "";
      const how = event.subtype === "interrupted" || event.is_error ? "Stopped" : "Done";
      entries.push({ kind: "done", summary: `${how}${seconds}` });
      return { entries, busy: false };
    }
    case "error":
      entries.push({ kind: "error", text: String(event.detail ?? "Something went wrong") });
      return { entries, busy: false };
    case "status":
      // The gateway's word while it wakes the workstation ("your workstation is frozen: …").
      entries.push({ kind: "status", text: String(event.text ?? "") });
      return { entries, busy: t.busy };
    default:
      return t;
  }
}
