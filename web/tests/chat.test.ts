import { describe, expect, it } from "vitest";
import { empty, prompted, received, withHistory } from "../src/lib/chat";

describe("the chat transcript", () => {
  it("streams text blocks into one reply and ends the turn on done", () => {
    let t = prompted(empty, "hi");
    t = received(t, { type: "text", text: "Hello." });
    t = received(t, { type: "text", text: "Done." });
    expect(t.busy).toBe(true);
    t = received(t, { type: "done", duration_ms: 1500, is_error: false, subtype: "success" });
    expect(t.entries).toEqual([
      { kind: "user", text: "hi" },
      { kind: "assistant", text: "Hello.\n\nDone." },
      { kind: "done", summary: "Done in 1.5 s" },
    ]);
    expect(t.busy).toBe(false);
  });

  it("folds a tool call and its result into one entry", () => {
    let t = prompted(empty, "list");
    t = received(t, { type: "tool_use", id: "t1", name: "Bash", input: { command: "ls" } });
    t = received(t, { type: "tool_result", tool_use_id: "t1", content: [{ type: "text", text: "a\nb" }], is_error: false });
    expect(t.entries[1]).toEqual({ kind: "tool", call: { id: "t1", name: "Bash", input: { command: "ls" }, result: "a\nb", isError: false } });
  });

  it("shows an error and frees the composer", () => {
    const t = received(prompted(empty, "x"), { type: "error", detail: "a turn is already running" });
    expect(t.busy).toBe(false);
    expect(t.entries.at(-1)).toEqual({ kind: "error", text: "a turn is already running" });
  });
});

describe("the previous conversation", () => {
  const history = {
    cwd: ".",
    session_id: "s1",
    updated_at: "2026-12-07T17:43:01Z",
    messages: [
      { role: "user" as const, text: "fix the tests" },
      { role: "tool" as const, text: "Bash: npm test", tool: "Bash", is_error: true },
      { role: "assistant" as const, text: "They pass now." },
    ],
    truncated: false,
  };

  it("comes before what this connection shows, then says the chat continues it", () => {
    const t = withHistory(prompted(empty, "and now?"), history, "en-GB");
    expect(t.entries.map((e) => e.kind)).toEqual(["earlier", "earlier", "earlier", "divider", "user"]);
    expect(t.entries[1]).toEqual({ kind: "earlier", role: "tool", text: "Bash: npm test", isError: true });
    expect(t.entries[3]).toMatchObject({ kind: "divider", text: expect.stringContaining("Claude continues this conversation (last active") });
    expect(t.busy).toBe(true);
  });

  it("says when earlier messages were left out, and adds nothing when there were none", () => {
    expect(withHistory(empty, { ...history, truncated: true }).entries[0]).toEqual({ kind: "divider", text: "Earlier messages are not shown" });
    expect(withHistory(empty, { ...history, messages: [] })).toBe(empty);
  });
});
