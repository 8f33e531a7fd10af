"use client";

import { useEffect, useState } from "react";
import { ApiError, api, post, type BillingStatus, type Plan } from "@/lib/api";
import { allowed, isTransitional, statusLabel, why, type Action, type Instance, type Status } from "@/lib/instance";
import type { Live } from "@/lib/useInstance";
import { cpus } from "@/lib/usage";
import { Confirm } from "./Confirm";
import { LeftOff } from "./LeftOff";
import { SshKeyCard } from "./SshKeyCard";

type Activity = {
  deadline_at: string | null;
  deadline_action: "freeze" | "stop" | null;
  max_lifetime_at: string | null;
  last_activity_at: string | null;
  last_activity_reason: string | null;
  condition_detail: string | null;
  decisions: { decided_at: string; decision: string; detail: string }[];
};

const QUESTIONS: Record<Exclude<Action, "create">, { title: string; text: string; label: string; danger: boolean }> = {
  pause: {
    title: "Pause your workstation?",
    text: "Everything stays exactly as it is (every process, the terminal, Claude's conversation) and it wakes in a moment. Where a pause cannot keep memory, it stops instead.",
    label: "Pause",
    danger: false,
  },
  stop: {
    title: "Stop your workstation?",
    text: "Your uncommitted work is checkpointed and its compute stops; your files are kept, and it resumes your terminal and Claude's conversation when woken.",
    label: "Stop",
    danger: false,
  },
  wake: { title: "Wake your workstation?", text: "It starts again where you left off.", label: "Wake", danger: false },
  destroy: {
    title: "Destroy your workstation?",
    text: "The machine is removed. Your data volume is kept and comes back with a new workstation.",
    label: "Destroy",
    danger: true,
  },
};

function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : "—";
}

function dotClass(status: Status): string {
  if (status === "running" || status === "paused" || status === "failed") return status;
  if (status === "frozen") return "paused";
  return isTransitional(status) ? "busy" : "";
}

export function Overview(props: {
  instance: Instance | null;
  live: Live;
  error: string | null;
  billing: BillingStatus | null;
  billingOn: boolean;
  activityOn: boolean;
  onAccepted: (id: string, status: Status) => void;
}) {
  const { instance, billing } = props;
  const [asking, setAsking] = useState<Exclude<Action, "create"> | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  const [copied, setCopied] = useState(false);
  const [plans, setPlans] = useState<Plan[]>([]);
  const [activity, setActivity] = useState<Activity | null>(null);
  const can = allowed(instance);
  const needsPlan = Boolean(billing?.enabled && !billing.entitled);

  useEffect(() => {
    if (!props.billingOn || !needsPlan) return;
    api<{ items: Plan[] }>("/billing/plans").then((list) => setPlans(list.items), () => setPlans([]));
  }, [props.billingOn, needsPlan]);

  const running = instance?.status === "running";
  useEffect(() => {
    if (!props.activityOn || !instance || !running) return setActivity(null);
    const load = () => api<Activity>(`/instances/${instance.id}/activity`).then(setActivity, () => setActivity(null));
    void load();
    const timer = window.setInterval(load, 30_000);
    return () => window.clearInterval(timer);
  }, [props.activityOn, instance?.id, running]); // eslint-disable-line react-hooks/exhaustive-deps

  async function act(action: Action) {
    setAsking(null);
    setProblem(null);
    setPending(true);
    try {
      const verb = action === "stop" ? "pause" : action;
      const path =
        action === "create" ? "/instances" : action === "destroy" ? `/instances/${instance!.id}` : `/instances/${instance!.id}/${verb}`;
      const body = action === "stop" ? { keep_memory: false } : action === "pause" ? {} : undefined;
      const result =
        action === "destroy"
          ? await api<{ id: string; status: string }>(path, { method: "DELETE" })
          : await post<{ id: string; status: string }>(path, body);
      const entered = (result.status === "queued" ? ({ create: "provisioning", pause: "pausing", stop: "pausing", wake: "waking", destroy: "destroying" } as const)[action] : result.status) as Status;
      props.onAccepted(result.id, entered);
    } catch (e) {
      setProblem(e instanceof ApiError ? e.detail : "The platform did not answer. Try again.");
    } finally {
      setPending(false);
    }
  }

  async function checkout(plan: string) {
    setProblem(null);
    try {
      const session = await post<{ url: string }>("/billing/checkout", { plan });
      window.location.assign(session.url);
    } catch (e) {
      setProblem(e instanceof ApiError ? e.detail : "Billing did not answer. Try again.");
    }
  }

  async function portal() {
    try {
      const session = await post<{ url: string }>("/billing/portal");
      window.location.assign(session.url);
    } catch (e) {
      setProblem(e instanceof ApiError ? e.detail : "Billing did not answer. Try again.");
    }
  }

  const command = typeof window === "undefined" ? "" : `CLAUDE_CLOUD_API=${window.location.origin} claude-cloud connect`;
  async function copy() {
    await navigator.clipboard.writeText(command);
    setCopied(true);
    window.setTimeout(() => setCopied(false), 2000);
  }

  const question = asking ? QUESTIONS[asking] : null;
  return (
    <div>
      {props.error && <p className="error" role="alert">{props.error}</p>}
      {problem && <p className="error" role="alert">{problem}</p>}
      <div className="grid">
        <section className="card" aria-labelledby="plan-title">
          <h2 id="plan-title">Plan</h2>
          {!props.billingOn || (billing && !billing.enabled) ? (
            <p className="muted">Billing is not set up on this deployment: your workstation is free.</p>
          ) : !billing ? (
            <p className="muted">Loading…</p>
          ) : billing.plan ? (
            <>
              <p>
                <strong>{billing.plan}</strong> · {billing.status}
                {billing.grace_until && <span className="error"> · pay by {when(billing.grace_until)}</span>}
              </p>
              <p>
                {billing.hours_used.toFixed(1)} of {billing.hours_included ?? "∞"} hours used this period
              </p>
              <p className="muted">
                {billing.running_hours.toFixed(1)} h running · {billing.frozen_hours.toFixed(1)} h frozen
                {billing.frozen_hour_weight ? ` (an hour frozen counts as ${billing.frozen_hour_weight} h)` : " (free)"}
              </p>
              <label htmlFor="hours" className="sr-only">Hours used</label>
              {billing.hours_included ? (
                <progress id="hours" max={billing.hours_included} value={Math.min(billing.hours_used, billing.hours_included)} />
              ) : null}
              <p className="muted">Renews {when(billing.current_period_end)}</p>
              <button type="button" onClick={() => void portal()}>Manage billing</button>
            </>
          ) : (
            <p>No plan yet: choose one below to get your workstation.</p>
          )}
        </section>
        <section className="card" aria-labelledby="instance-title">
          <h2 id="instance-title">Workstation</h2>
          {instance && instance.status !== "destroyed" ? (
            <>
              <p className="status" aria-live="polite" data-testid="instance-status">
                <span className={`dot ${dotClass(instance.status)}`} aria-hidden="true" />
                {statusLabel(instance.status)}
              </p>
              {why(instance) && <p className="muted" data-testid="instance-why">Why: {why(instance)}</p>}
              <p className="muted">
                {props.live === "open" ? "Live updates on" : props.live === "connecting" ? "Connecting for live updates…" : "Live updates off"}
              </p>
            </>
          ) : (
            <p>You have no workstation yet.</p>
          )}
          <div className="actions">
            {(!instance || instance.status === "destroyed" || instance.status === "failed") && (
              <button className="primary" type="button" disabled={pending || needsPlan || !can.has("create")} onClick={() => void act("create")}>
                Create workstation
              </button>
            )}
            {instance && instance.status !== "destroyed" && (
              <>
                <button type="button" disabled={pending || !can.has("pause")} onClick={() => setAsking("pause")}>Pause</button>
                <button type="button" disabled={pending || !can.has("stop")} onClick={() => setAsking("stop")}>Stop</button>
                <button type="button" disabled={pending || !can.has("wake")} onClick={() => setAsking("wake")}>Wake</button>
                <button type="button" className="danger" disabled={pending || !can.has("destroy")} onClick={() => setAsking("destroy")}>Destroy</button>
              </>
            )}
          </div>
        </section>
      </div>
      {instance && instance.status !== "destroyed" && <LeftOff instanceId={instance.id} status={instance.status} />}
      {needsPlan && plans.length > 0 && (
        <section className="card" aria-labelledby="choose-title">
          <h2 id="choose-title">Choose a plan</h2>
          <div className="plans">
            {plans.map((plan) => (
              <div key={plan.name}>
                <h3>{plan.title}</h3>
                <p className="price">{plan.price}</p>
                <p className="muted">{plan.included_hours} hours included</p>
                {plan.machine.cpus !== undefined && <p className="muted">{cpus(plan.machine.cpus)}</p>}
                <button className="primary" type="button" onClick={() => void checkout(plan.name)}>
                  Choose {plan.title}
                </button>
              </div>
            ))}
          </div>
        </section>
      )}
      {running && (
        <section className="card" aria-labelledby="connect-title">
          <h2 id="connect-title">Connect from your terminal</h2>
          <p className="muted">With the CLI signed in once (<code>claude-cloud login you@example.com</code>):</p>
          <div className="command">
            <code aria-label="Connect command">{command}</code>
            <button type="button" onClick={() => void copy()}>{copied ? "Copied" : "Copy"}</button>
          </div>
        </section>
      )}
      {running && instance && instance.capabilities?.agent !== false && <SshKeyCard instanceId={instance.id} />}
      {running && props.activityOn && (
        <section className="card" aria-labelledby="why-title">
          <h2 id="why-title">Why is it still running?</h2>
          {activity ? (
            <>
              <p>
                Last activity: {activity.last_activity_reason ?? "none yet"} ({when(activity.last_activity_at)})
              </p>
              <p>
                {activity.deadline_action === "stop" ? "Stops" : "Freezes"} when idle at {when(activity.deadline_at)}; at the latest{" "}
                {when(activity.max_lifetime_at)} without your input.
              </p>
              {activity.condition_detail && <p className="notice">{activity.condition_detail}</p>}
              {activity.decisions.length > 0 && (
                <details>
                  <summary>Recent decisions</summary>
                  <ul className="plain">
                    {activity.decisions.map((d) => (
                      <li key={d.decided_at + d.decision}>
                        <span>{d.decision}: {d.detail}</span>
                        <span className="muted">{when(d.decided_at)}</span>
                      </li>
                    ))}
                  </ul>
                </details>
              )}
            </>
          ) : (
            <p className="muted">The activity service has nothing to say yet.</p>
          )}
        </section>
      )}
      {question && (
        <Confirm
          open
          title={question.title}
          confirmLabel={question.label}
          danger={question.danger}
          onConfirm={() => void act(asking!)}
          onCancel={() => setAsking(null)}
        >
          <p>{question.text}</p>
        </Confirm>
      )}
    </div>
  );
}
