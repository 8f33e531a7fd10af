"use client";

import { useCallback, useEffect, useState } from "react";
import { ApiError, api, post } from "@/lib/api";
import {
  type AuditPage,
  type AuditRecord,
  type Delivery,
  type Endpoint,
  type EndpointCreated,
  KINDS,
  WEBHOOK_EVENTS,
  endpointUrlProblem,
  from,
  what,
  who,
} from "@/lib/audit";
import { Confirm } from "./Confirm";

const PAGE = 25;
const REFRESH_MS = 3000;

function when(iso: string): string {
  return new Date(iso).toLocaleString();
}

function problem(e: unknown, fallback: string): string {
  return e instanceof ApiError ? e.detail : fallback;
}

/** Your audit log (who did what to your workstation, from where) and your webhooks. */
export function SecurityTab() {
  return (
    <div>
      <AuditLog />
      <Webhooks />
    </div>
  );
}

function AuditLog() {
  const [kind, setKind] = useState("");
  const [records, setRecords] = useState<AuditRecord[] | null>(null);
  const [next, setNext] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(
    async (before: number | null) => {
      const query = new URLSearchParams({ limit: String(PAGE) });
      if (kind) query.set("kind", kind);
      if (before) query.set("before", String(before));
      try {
        const page = await api<AuditPage>(`/me/audit?${query}`);
        setRecords((shown) => (before && shown ? [...shown, ...page.items] : page.items));
        setNext(page.next_before);
        setError(null);
      } catch (e) {
        setError(problem(e, "The audit log did not answer."));
      }
    },
    [kind],
  );

  useEffect(() => {
    void load(null);
  }, [load]);

  // Records arrive over the bus a moment after what they record: the newest page is read again
  // while the log is open, and what is new goes on top of what is shown (older pages kept).
  useEffect(() => {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (kind) query.set("kind", kind);
    const timer = window.setInterval(() => {
      api<AuditPage>(`/me/audit?${query}`)
        .then((page) =>
          setRecords((shown) => {
            if (!shown) return page.items;
            const seen = new Set(shown.map((r) => r.event_id));
            const fresh = page.items.filter((r) => !seen.has(r.event_id));
            return fresh.length ? [...fresh, ...shown] : shown;
          }),
        )
        .catch(() => undefined); // the next tick tries again; a lasting failure shows on load
    }, REFRESH_MS);
    return () => window.clearInterval(timer);
  }, [kind]);

  const exportUrl = `/me/audit/export${kind ? `?kind=${encodeURIComponent(kind)}` : ""}`;
  return (
    <section className="card" aria-labelledby="audit-title">
      <div className="bar">
        <h2 id="audit-title">Activity log</h2>
        <a className="button" href={exportUrl} download>
          Export (JSON lines)
        </a>
      </div>
      <p className="muted">
        Every sign-in, command, terminal and chat session, file read and change to your keys and webhooks, with where it
        came from. Each record carries the hash of the one before it, so none can be changed or removed unnoticed.
      </p>
      <label htmlFor="audit-kind">Show</label>
      <select id="audit-kind" value={kind} onChange={(e) => setKind(e.target.value)}>
        <option value="">Everything</option>
        {Object.entries(KINDS).map(([value, title]) => (
          <option key={value} value={value}>
            {title}
          </option>
        ))}
      </select>
      {error && <p className="error" role="alert">{error}</p>}
      {records === null && !error && <p className="muted">Loading…</p>}
      {records?.length === 0 && <p className="muted">Nothing recorded yet.</p>}
      <ul className="plain" data-testid="audit">
        {records?.map((r) => (
          <li key={r.event_id}>
            <span>
              <strong className={r.outcome === "ok" ? undefined : "error"}>{what(r)}</strong>
              <span className="muted"> by {who(r)}</span>
              <br />
              <span className="muted">
                {when(r.occurred_at)} · <span className="mono">{from(r)}</span>
              </span>
            </span>
          </li>
        ))}
      </ul>
      {next && (
        <div className="actions">
          <button type="button" onClick={() => void load(next)}>
            Older
          </button>
        </div>
      )}
    </section>
  );
}

function Webhooks() {
  const [endpoints, setEndpoints] = useState<Endpoint[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [url, setUrl] = useState("");
  const [events, setEvents] = useState<string[]>(["instance.running", "instance.failed"]);
  const [touched, setTouched] = useState(false);
  const [secret, setSecret] = useState<{ id: string; value: string } | null>(null);
  const [deleting, setDeleting] = useState<Endpoint | null>(null);
  const [log, setLog] = useState<{ id: string; items: Delivery[] } | null>(null);

  const load = useCallback(async () => {
    try {
      setEndpoints((await api<{ items: Endpoint[] }>("/me/webhooks")).items);
      setError(null);
    } catch (e) {
      setError(problem(e, "The webhooks did not answer."));
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  const urlProblem = endpointUrlProblem(url);

  async function add(event: React.FormEvent) {
    event.preventDefault();
    setTouched(true);
    if (urlProblem || events.length === 0) return;
    try {
      const created = await post<EndpointCreated>("/me/webhooks", { url: url.trim(), events });
      setSecret({ id: created.id, value: created.secret });
      setUrl("");
      setTouched(false);
      await load();
    } catch (e) {
      setError(problem(e, "The webhook was not added."));
    }
  }

  async function act(endpoint: Endpoint, action: "test" | "rotate" | "deliveries" | "delete") {
    try {
      if (action === "rotate") {
        const rotated = await post<EndpointCreated>(`/me/webhooks/${endpoint.id}/rotate`);
        setSecret({ id: endpoint.id, value: rotated.secret });
      } else if (action === "test") {
        await post(`/me/webhooks/${endpoint.id}/test`);
      } else if (action === "delete") {
        await api(`/me/webhooks/${endpoint.id}`, { method: "DELETE" });
      }
      if (action === "test" || action === "deliveries") {
        const found = await api<{ items: Delivery[] }>(`/me/webhooks/${endpoint.id}/deliveries?limit=10`);
        setLog({ id: endpoint.id, items: found.items });
      }
      await load();
      setError(null);
    } catch (e) {
      setError(problem(e, "The webhooks did not answer."));
    }
  }

  return (
    <section className="card" aria-labelledby="webhooks-title">
      <h2 id="webhooks-title">Webhooks</h2>
      <p className="muted">
        Your own endpoint is told when your workstation starts, pauses or fails. Each delivery is signed with your
        endpoint&apos;s secret: <code>ClaudeCloud-Signature: t=…,v1=…</code> (HMAC-SHA256 of <code>t.body</code>, as
        Stripe signs), and tried again with the same event id until it is answered with a 2xx.
      </p>
      {error && <p className="error" role="alert">{error}</p>}
      {secret && (
        <div className="notice" role="status">
          Your signing secret, shown this once: <code data-testid="webhook-secret">{secret.value}</code>
        </div>
      )}
      <ul className="plain" data-testid="webhooks">
        {endpoints?.map((e) => (
          <li key={e.id}>
            <span>
              <span className="mono">{e.url}</span>
              <br />
              <span className="muted">{e.events.join(", ")}</span>
              {e.status === "disabled" && <><br /><span className="error">Turned off: {e.disabled_reason}</span></>}
            </span>
            <span className="actions">
              <button type="button" onClick={() => void act(e, "test")}>Send a test</button>
              <button type="button" onClick={() => void act(e, "deliveries")}>Deliveries</button>
              <button type="button" onClick={() => void act(e, "rotate")}>Rotate secret</button>
              <button type="button" className="danger" onClick={() => setDeleting(e)}>Delete</button>
            </span>
            {log?.id === e.id && (
              <ul className="plain" aria-label="Deliveries">
                {log.items.length === 0 && <li className="muted">No deliveries yet.</li>}
                {log.items.map((d) => (
                  <li key={d.id}>
                    <span>
                      <strong>{d.event_type}</strong> <span className="muted">{when(d.created_at)}</span>
                      <br />
                      <span className={d.status === "failed" ? "error" : "muted"}>
                        {d.status}, {d.attempts} {d.attempts === 1 ? "try" : "tries"}
                        {d.last_error ? ` · ${d.last_error}` : ""}
                      </span>
                    </span>
                  </li>
                ))}
              </ul>
            )}
          </li>
        ))}
      </ul>
      <form onSubmit={add} noValidate>
        <label htmlFor="webhook-url">Endpoint URL</label>
        <input
          id="webhook-url"
          type="text"
          inputMode="url"
          placeholder="https://hooks.example.com/claudecloud"
          value={url}
          onChange={(e) => setUrl(e.target.value)}
          aria-invalid={touched && urlProblem ? true : undefined}
          aria-describedby="webhook-url-help"
        />
        <p id="webhook-url-help" className={touched && urlProblem ? "error" : "muted"}>
          {touched && urlProblem ? urlProblem : "Public https endpoints only: private and internal addresses are refused."}
        </p>
        <fieldset>
          <legend>Tell it when your workstation is…</legend>
          {Object.entries(WEBHOOK_EVENTS).map(([value, meaning]) => (
            <label key={value} className="check">
              <input
                type="checkbox"
                checked={events.includes(value)}
                onChange={(e) => setEvents((now) => (e.target.checked ? [...now, value] : now.filter((v) => v !== value)))}
              />{" "}
              {meaning} <span className="muted mono">{value}</span>
            </label>
          ))}
        </fieldset>
        <div className="actions">
          <button type="submit" className="primary">
            Add webhook
          </button>
        </div>
      </form>
      <Confirm
        open={deleting !== null}
        title="Delete this webhook?"
        confirmLabel="Delete"
        danger
        onConfirm={() => {
          const endpoint = deleting;
          setDeleting(null);
          if (endpoint) void act(endpoint, "delete");
        }}
        onCancel={() => setDeleting(null)}
      >
        <p>Nothing more is sent to it, and its delivery log goes too.</p>
      </Confirm>
    </section>
  );
}
