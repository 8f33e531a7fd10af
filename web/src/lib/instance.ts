// An instance as the dashboard shows it, kept current by the gateway's event stream
// (GET /instances/{id}/events: a "snapshot" first, then one event per change; each carries status).

export type Status =
  | "provisioning"
  | "running"
  | "pausing"
  | "paused"
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
  created_at: string;
  updated_at: string;
};

export type Action = "create" | "pause" | "wake" | "destroy";

/** What the provisioner allows from each state (services/provisioner/.../rules.py). */
const ALLOWED: Record<Status, readonly Action[]> = {
  provisioning: [],
  running: ["pause", "destroy"],
  pausing: [],
  paused: ["wake", "destroy"],
  waking: [],
  destroying: [],
  destroyed: ["create"],
  failed: ["destroy", "create"],
};

export function allowed(instance: Instance | null): ReadonlySet<Action> {
  return new Set(instance ? ALLOWED[instance.status] : ["create"]);
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
  if (event === "instance.paused" || event === "instance.failed" || event === "instance.rejected") {
    next.reason = typeof parsed.reason === "string" ? parsed.reason : next.reason;
  } else if (event === "instance.running" || event === "instance.woken") {
    next.reason = null;
  }
  return next;
}

const LABELS: Record<Status, string> = {
  provisioning: "Creating…",
  running: "Running",
  pausing: "Pausing…",
  paused: "Paused",
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
