import { describe, expect, it } from "vitest";
import { type AuditRecord, endpointUrlProblem, from, what, who } from "../src/lib/audit";

function record(kind: string, detail: AuditRecord["detail"], actor = { kind: "user", id: "u1" }): AuditRecord {
  return {
    position: 1,
    user_id: "u1",
    seq: 1,
    event_id: "e1",
    kind,
    occurred_at: "2026-03-02T09:30:00Z",
    actor,
    origin: { address: "203.0.113.7", user_agent: "Mozilla/5.0 (X11) Firefox/140.0" },
    instance_id: null,
    outcome: "ok",
    detail,
    hash: "h",
    prev_hash: "p",
  };
}

describe("the audit log in words", () => {
  it("says what each act was with its facts", () => {
    expect(what(record("instance.command", { command: "wake", error: "IllegalTransition" }))).toBe(
      "Wake (refused: IllegalTransition)",
    );
    expect(what(record("terminal.closed", { seconds: 125 }))).toBe("Terminal closed after 2 min");
    expect(what(record("file.read", { path: "notes.md", status: 200 }))).toBe("File read: notes.md");
    expect(what(record("credential.set", { credential: "api_key" }))).toBe("Claude key stored (api_key)");
  });

  it("names who acted and from where", () => {
    expect(who(record("auth.sign_in", {}))).toBe("you");
    expect(who(record("instance.command", {}, { kind: "operator", id: "ops@example.com" }))).toBe(
      "an operator (ops@example.com)",
    );
    expect(who(record("instance.command", {}, { kind: "activity", id: "activity" }))).toBe("idle detection");
    expect(from(record("auth.sign_in", {}))).toBe("203.0.113.7 · Firefox/140.0");
  });
});

describe("a webhook URL as typed", () => {
  it("refuses what the server would refuse anyway, saying why", () => {
    expect(endpointUrlProblem("")).toMatch(/Enter/);
    expect(endpointUrlProblem("ftp://x")).toMatch(/https/);
    expect(endpointUrlProblem("https://me:pw@hooks.example.com/x")).toMatch(/signed/);
    expect(endpointUrlProblem("https://hooks.example.com/claudecloud")).toBeNull();
  });
});
