// The audit log and webhooks as the dashboard shows them: pure helpers, tested with vitest.

export type AuditRecord = {
  position: number;
  user_id: string | null;
  seq: number;
  event_id: string;
  kind: string;
  occurred_at: string;
  actor: { kind: string; id: string | null };
  origin: { address: string | null; user_agent: string | null } | null;
  instance_id: string | null;
  outcome: "ok" | "refused" | "failed";
  detail: Record<string, string | number | boolean | null>;
  hash: string;
  prev_hash: string;
};

export type AuditPage = { items: AuditRecord[]; next_before: number | null };

export type Endpoint = {
  id: string;
  url: string;
  events: string[];
  status: "active" | "disabled";
  disabled_reason: string | null;
  created_at: string;
  previous_secret_expires_at: string | null;
};

export type EndpointCreated = Endpoint & { secret: string };

export type Delivery = {
  id: string;
  event_id: string;
  event_type: string;
  status: "pending" | "delivered" | "failed";
  attempts: number;
  created_at: string;
  next_attempt_at: string | null;
  last_status_code: number | null;
  last_error: string | null;
};

/** The kinds a person can filter by, with their names. */
export const KINDS: Record<string, string> = {
  "auth.sign_in": "Signed in",
  "auth.sign_in_failed": "Sign-in refused",
  "auth.sign_out": "Signed out",
  "instance.command": "Workstation command",
  "terminal.opened": "Terminal opened",
  "terminal.closed": "Terminal closed",
  "chat.opened": "Chat opened",
  "chat.closed": "Chat closed",
  "file.read": "File read",
  "project.cloned": "Repository cloned",
  "credential.set": "Claude key stored",
  "credential.cleared": "Claude key cleared",
  "budget.changed": "Budget changed",
  "webhook.created": "Webhook added",
  "webhook.deleted": "Webhook deleted",
  "webhook.rotated": "Webhook secret rotated",
  "webhook.disabled": "Webhook turned off",
  "operator.dead_letter_replayed": "Operator replayed a message",
  "operator.check_fixed": "Operator corrected records",
};

/** The events an endpoint can be told of, with what they mean. */
export const WEBHOOK_EVENTS: Record<string, string> = {
  "instance.running": "started or woken",
  "instance.paused": "stopped (files kept)",
  "instance.frozen": "frozen (everything kept)",
  "instance.failed": "failed",
  "instance.idle_warning": "about to be paused for idleness",
  "instance.budget_*": "budget events",
};

/** Who did it, in words. */
export function who(record: AuditRecord): string {
  switch (record.actor.kind) {
    case "user":
      return "you";
    case "operator":
      return record.actor.id ? `an operator (${record.actor.id})` : "an operator";
    case "billing":
      return "billing";
    case "activity":
      return "idle detection";
    case "anonymous":
      return "someone";
    default:
      return record.actor.id ?? record.actor.kind;
  }
}

/** What happened, in one line: the kind and its telling facts (never more than the record has). */
export function what(record: AuditRecord): string {
  const d = record.detail;
  const name = KINDS[record.kind] ?? record.kind;
  switch (record.kind) {
    case "instance.command": {
      const command = String(d.command ?? "command");
      const why = d.error ? ` (refused: ${d.error})` : d.reason ? ` (${d.reason})` : "";
      return `${command[0]?.toUpperCase() ?? ""}${command.slice(1)}${why}`;
    }
    case "terminal.closed":
    case "chat.closed":
      return `${name} after ${duration(Number(d.seconds ?? 0))}`;
    case "file.read":
      return `${name}: ${d.path}`;
    case "project.cloned":
      return `${name}: ${d.url}`;
    case "credential.set":
      return `${name} (${d.credential})`;
    case "auth.sign_in_failed":
      return `${name}: ${d.error}`;
    case "webhook.created":
    case "webhook.disabled":
      return `${name}: ${d.url}`;
    default:
      return name;
  }
}

/** Where it came from: the address, and the browser or tool when it said. */
export function from(record: AuditRecord): string {
  if (!record.origin?.address) return "—";
  const agent = record.origin.user_agent ? ` · ${shortAgent(record.origin.user_agent)}` : "";
  return `${record.origin.address}${agent}`;
}

function shortAgent(agent: string): string {
  const known = /(Firefox|Edg|Chrome|Safari|curl|python-httpx|claude-cloud)\/[\d.]+/.exec(agent);
  return known ? known[0] : agent.slice(0, 40);
}

export function duration(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** Why a webhook URL cannot be registered as typed, or null (the server checks it again). */
export function endpointUrlProblem(url: string): string | null {
  const trimmed = url.trim();
  if (!trimmed) return "Enter the URL deliveries go to.";
  let parsed: URL;
  try {
    parsed = new URL(trimmed);
  } catch {
    return "That is not a URL.";
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return "It must start with https://.";
  if (parsed.username || parsed.password) return "Leave the user and password out: every delivery is signed.";
  if (parsed.hash) return "Leave out the #fragment.";
  return null;
}
