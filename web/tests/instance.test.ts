import { describe, expect, it } from "vitest";
import { allowed, current, reduce, why, type Instance } from "../src/lib/instance";

const base: Instance = {
  id: "i-1",
  user_id: "u-1",
  status: "provisioning",
  provider: "docker",
  host: null,
  reason: null,
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-01T00:00:00Z",
};
const event = (type: string, fields: Record<string, unknown>) => ({
  event: type,
  data: JSON.stringify({ type, instance_id: "i-1", user_id: "u-1", ...fields }),
});

describe("why an instance is not running", () => {
  it("says why a paused one was paused, from the snapshot after a reload too", () => {
    const paused: Instance = { ...base, status: "paused", pause_reason: "billing" };
    expect(why(paused)).toMatch(/subscription is not active/);
    expect(why({ ...paused, pause_reason: "user" })).toBe("you paused it.");
  });

  it("gives a failed one's reason, and nothing for a running one", () => {
    expect(why({ ...base, status: "failed", reason: "timed out while provisioning" })).toBe(
      "timed out while provisioning",
    );
    expect(why({ ...base, status: "running", reason: "stale" })).toBeNull();
  });

  it("names a failure's code before its sentence, from the snapshot and from the event", () => {
    const failed: Instance = {
      ...base,
      status: "failed",
      failure: "agent_unreachable",
      reason: "the agent did not answer within 60s",
    };
    expect(why(failed)).toBe("Its agent never answered: the agent did not answer within 60s");
    const fromEvent = reduce(
      base,
      event("instance.failed", { status: "failed", code: "stuck", reason: "timed out while waking" }),
    );
    expect(fromEvent).toMatchObject({ status: "failed", failure: "stuck" });
    expect(why(fromEvent!)).toBe("It took too long: timed out while waking");
  });
});

describe("the instance's event stream", () => {
  it("starts from the snapshot", () => {
    expect(reduce(null, { event: "snapshot", data: JSON.stringify(base) })).toEqual(base);
  });

  it("follows each event's status: created, running, paused, woken, destroyed", () => {
    let state: Instance | null = base;
    state = reduce(state, event("instance.running", { status: "running", host: "10.0.0.2:3001" }));
    expect(state).toMatchObject({ status: "running", host: "10.0.0.2:3001" });
    state = reduce(state, event("instance.accepted", { status: "pausing" }));
    expect(state?.status).toBe("pausing");
    state = reduce(state, event("instance.paused", { status: "paused", reason: "idle" }));
    expect(state).toMatchObject({ status: "paused", pause_reason: "idle" });
    expect(why(state!)).toMatch(/idle, so it paused itself/);
    state = reduce(state, event("instance.woken", { status: "running" }));
    expect(state).toMatchObject({ status: "running", reason: null, pause_reason: null });
    expect(why(state!)).toBeNull();
    state = reduce(state, event("instance.destroyed", { status: "destroyed" }));
    expect(state?.status).toBe("destroyed");
  });

  it("ignores another instance's events and data that is not JSON", () => {
    const other = { event: "instance.running", data: JSON.stringify({ instance_id: "i-2", status: "running" }) };
    expect(reduce(base, other)).toBe(base);
    expect(reduce(base, { event: "instance.running", data: "{oops" })).toBe(base);
    expect(reduce(null, event("instance.running", { status: "running" }))).toBeNull();
  });

  it("enables only what the state machine allows", () => {
    const at = (status: Instance["status"]) => [...allowed({ ...base, status })].sort();
    expect([...allowed(null)]).toEqual(["create"]);
    expect(at("running")).toEqual(["destroy", "pause", "stop"]);
    expect(at("paused")).toEqual(["destroy", "wake"]);
    expect(at("frozen")).toEqual(["destroy", "stop", "wake"]);
    expect(at("failed")).toEqual(["create", "destroy"]);
    for (const busy of ["provisioning", "pausing", "waking", "destroying"] as const) expect(at(busy)).toEqual([]);
  });

  it("picks the live instance of a list, else the newest", () => {
    const dead = { ...base, id: "old", status: "destroyed" as const };
    const live = { ...base, id: "new", status: "paused" as const };
    expect(current([dead, live])?.id).toBe("new");
    expect(current([dead])?.id).toBe("old");
    expect(current([])).toBeNull();
  });
});
