// Calls to the gateway: same origin, the session cookie, errors as {error, detail}.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
  ) {
    super(detail);
  }
}

export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (init.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { credentials: "same-origin", ...init, headers: { ...headers, ...(init.headers as Record<string, string>) } });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const fields = (body ?? {}) as { error?: string; detail?: unknown };
    const detail = typeof fields.detail === "string" ? fields.detail : `The server answered ${response.status}.`;
    throw new ApiError(response.status, fields.error ?? String(response.status), detail);
  }
  return body as T;
}

export function post<T>(path: string, body?: unknown): Promise<T> {
  return api<T>(path, { method: "POST", body: body === undefined ? undefined : JSON.stringify(body) });
}

/** A WebSocket URL on this origin for ``path``. */
export function socketUrl(path: string): string {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}${path}`;
}

/** A single-use ticket for this instance's terminal or chat socket (about 30 s). */
export async function ticket(instanceId: string): Promise<string> {
  const issued = await post<{ ticket: string }>(`/instances/${instanceId}/tickets`);
  return issued.ticket;
}

export type Me = { user_id: string | null; email: string | null; is_admin: boolean };

export type Plan = {
  name: string;
  title: string;
  price: string;
  included_hours: number;
  machine: { cpus?: number; memory_mb?: number; disk_gb?: number; [key: string]: unknown };
};

export type BillingStatus = {
  enabled: boolean;
  entitled: boolean;
  plan: string | null;
  status: string | null;
  current_period_end: string | null;
  grace_until: string | null;
  hours_used: number;
  hours_included: number | null;
  running_hours: number;
  frozen_hours: number;
  frozen_hour_weight: number | null;
};
