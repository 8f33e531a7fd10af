import { describe, expect, it } from "vitest";
import { empty, prompted, received } from "../src/lib/chat";

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
