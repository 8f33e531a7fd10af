import { describe, expect, it } from "vitest";
import { closeVerdict } from "../src/lib/closeCodes";

describe("close codes", () => {
  it("has a sentence a person understands for each of the gateway's refusals", () => {
    expect(closeVerdict(4401)).toMatchObject({ signIn: true, retry: false });
    expect(closeVerdict(4401).message).toMatch(/sign in again/i);
    expect(closeVerdict(4403).message).toMatch(/not yours/i);
    expect(closeVerdict(4404).message).toMatch(/no such workstation/i);
    expect(closeVerdict(4409)).toMatchObject({ retry: false });
    expect(closeVerdict(4409).message).toMatch(/not running.*wake/i);
    expect(closeVerdict(4502)).toMatchObject({ retry: true });
    expect(closeVerdict(4502).message).toMatch(/agent/i);
  });

  it("reconnects after a dropped connection, not after a normal close", () => {
    expect(closeVerdict(1006).retry).toBe(true);
    expect(closeVerdict(1000).retry).toBe(false);
  });

  it("keeps the server's reason for a code it does not know", () => {
    const verdict = closeVerdict(4999, "something odd");
    expect(verdict.message).toContain("4999");
    expect(verdict.message).toContain("something odd");
  });
});
