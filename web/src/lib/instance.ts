// An instance as the dashboard shows it, kept current by the gateway's event stream
// (GET /instances/{id}/events: a "snapshot" first, then one event per change; each carries status).

export type Status =
  | "provisioning"
  | "running"
  | "pausing"
  | "paused"
  | "frozen"
  | "waking"
  | "destroying"
  | "destroyed"
  | "failed";

export type Instance = {
  id: string;
  user_id: string;
  status: Status;
  provider: string;
  host?: string | null;
  reason?: string | null;
  failure?: FailureCode | null;
  pause_reason?: PauseReason | null;
  /** What its provider's machines can do (the demo's have no agent: no SSH key to show). */
  capabilities?: { agent: boolean; keeps_memory: boolean; mesh: boolean; warm_pool: boolean };
  created_at: string;
  updated_at: string;
};

/** "pause" keeps every process (frozen, where the provider can); "stop" keeps the files only. */
export type Action = "create" | "pause" | "stop" | "wake" | "destroy";

/** Why a paused instance was paused (the provisioner's PauseReason). */
export type PauseReason = "user" | "idle" | "billing" | "stopped" | "max_lifetime" | "host_memory";

const PAUSED_BECAUSE: Record<PauseReason, string> = {
  user: "you paused it.",
  idle: "it was idle, so it paused itself and costs nothing until you wake it.",
  billing: "your subscription is not active: subscribe again and it wakes by itself.",
  stopped: "its machine was found stopped.",
  max_lifetime: "it ran the longest allowed without anyone typing.",
  host_memory: "it had been frozen the longest when the host ran short of memory, so it was stopped; your files are kept.",
};

/** Why an instance failed, in a type (the provisioner's FailureCode). */
export type FailureCode =
  | "provider_error"
  | "agent_unreachable"
  | "stuck"
  | "mesh_step_failed"
  | "machine_missing";

const FAILED_BECAUSE: Record<FailureCode, string> = {
  provider_error: "The compute provider failed",
  agent_unreachable: "Its agent never answered",
  stuck: "It took too long",
  mesh_step_failed: "Its private network could not be set up",
  machine_missing: "Its machine was found missing",
};

/** What a failure code means, for a person. */
export function failureLabel(code: FailureCode): string {
  return FAILED_BECAUSE[code] ?? code;
}

/** Why the instance is not running, for a person; null when there is nothing to say. */
export function why(instance: Instance): string | null {
  if (instance.status === "running") return null;
  if ((instance.status === "paused" || instance.status === "frozen") && instance.pause_reason) {
    return PAUSED_BECAUSE[instance.pause_reason] ?? null;
  }
  if (instance.status === "failed" && instance.failure) {
    const label = failureLabel(instance.failure);
    return instance.reason ? `${label}: ${instance.reason}` : `${label}.`;
  }
  return instance.reason ?? null;
}

/** What the provisioner allows from each state (services/provisioner/.../rules.py). */
const ALLOWED: Record<Status, readonly Action[]> = {
  provisioning: [],
  running: ["pause", "stop", "destroy"],
  pausing: [],
  paused: ["wake", "destroy"],
  frozen: ["wake", "stop", "destroy"],
  waking: [],
  destroying: [],
  destroyed: ["create"],
  failed: ["destroy", "create"],
};

export function allowed(instance: Instance | null): ReadonlySet<Action> {
  return new Set(instance ? ALLOWED[instance.status] : ["create"]);
}

/** Whether the terminal, chat and projects may open: running, or woken by opening them. */
export function reachable(status: Status): boolean {
  return ["running", "paused", "frozen", "waking", "pausing"].includes(status);
}

export function isTransitional(status: Status): boolean {
  return ["provisioning", "pausing", "waking", "destroying"].includes(status);
}

export type StreamEvent = { event: string; data: string };

/** The instance after one event of its stream; an event about another instance changes nothing. */
export function reduce(current: Instance | null, { event, data }: StreamEvent): Instance | null {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(data);
  } catch {
    return current;
  }
  if (event === "snapshot") return parsed as unknown as Instance;
  if (!current || parsed.instance_id !== current.id || typeof parsed.status !== "string") {
    return current;
  }
  const next: Instance = { ...current, status: parsed.status as Status };
  if (typeof parsed.host === "string") next.host = parsed.host;
  if (event === "instance.paused" || event === "instance.frozen") {
    next.pause_reason = typeof parsed.reason === "string" ? (parsed.reason as PauseReason) : null;
    next.reason = null;
  } else if (event === "instance.failed") {
    next.reason = typeof parsed.reason === "string" ? parsed.reason : next.reason;
    next.failure = typeof parsed.code === "string" ? (parsed.code as FailureCode) : null;
  } else if (event === "instance.rejected") {
    next.reason = typeof parsed.reason === "string" ? parsed.reason : next.reason;
  } else if (event === "instance.running" || event === "instance.woken") {
    next.reason = null;
    next.pause_reason = null;
  }
  return next;
}

const LABELS: Record<Status, string> = {
  provisioning: "Creating…",
  running: "Running",
  pausing: "Pausing…",
  paused: "Paused",
  frozen: "Frozen",
  waking: "Waking…",
  destroying: "Destroying…",
  destroyed: "Destroyed",
  failed: "Failed",
};

export function statusLabel(status: Status): string {
  return LABELS[status] ?? status;
}

/** The live instance of a user's list: the newest that is neither destroyed nor failed, else the newest. */
export function current(list: Instance[]): Instance | null {
  return list.find((i) => i.status !== "destroyed" && i.status !== "failed") ?? list[0] ?? null;
}
