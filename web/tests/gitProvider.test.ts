import { describe, expect, it } from "vitest";
import { connectOutcome, describeRepository, withoutOutcome } from "../src/lib/gitProvider";

describe("the return from the provider", () => {
  it("says who was connected", () => {
    expect(connectOutcome("?git=connected&account=octocat", "GitHub")).toEqual({ ok: true, message: "Connected GitHub as octocat." });
  });

  it("says why nothing was connected, in words", () => {
    expect(connectOutcome("?git_error=GitAuthorizationRejected", "GitHub")?.message).toMatch(/another browser, expired, or was already used/);
    expect(connectOutcome("?git_error=GitAccessDenied", "GitHub")).toEqual({ ok: false, message: "GitHub was not connected: the authorization was declined." });
    expect(connectOutcome("?git_error=SomethingNew", "GitHub")?.message).toBe("GitHub was not connected (SomethingNew).");
  });

  it("is nothing on an ordinary visit, and leaves other keys alone", () => {
    expect(connectOutcome("", "GitHub")).toBeNull();
    expect(connectOutcome("?checkout=done", "GitHub")).toBeNull();
    expect(withoutOutcome("?git=connected&account=o&checkout=x")).toBe("?checkout=x");
    expect(withoutOutcome("?git_error=GitAccessDenied")).toBe("");
  });

  it("describes a repository by visibility and default branch", () => {
    const base = { full_name: "o/r", name: "r", owner: "o", clone_url: "https://h/o/r.git", html_url: null, description: null };
    expect(describeRepository({ ...base, private: true, default_branch: "main" })).toBe("private · main");
    expect(describeRepository({ ...base, private: false, default_branch: null })).toBe("public");
  });
});
