"use client";

import { useEffect, useState } from "react";
import { Header } from "@/components/Header";
import { api, type Plan } from "@/lib/api";
import { session } from "@/lib/session";
import { cpus } from "@/lib/usage";

type Plans = { state: "loading" } | { state: "none" } | { state: "ready"; items: Plan[] };

export default function Landing() {
  const [plans, setPlans] = useState<Plans>({ state: "loading" });

  useEffect(() => {
    session()
      .then((s) => {
        if (s.signed_in) return window.location.replace(`/dashboard/${window.location.search}`);
        if (!s.features.billing) return setPlans({ state: "none" });
        return api<{ items: Plan[] }>("/billing/plans").then((list) =>
          setPlans(list.items.length ? { state: "ready", items: list.items } : { state: "none" }),
        );
      })
      .catch(() => setPlans({ state: "none" }));
  }, []);

  return (
    <>
      <Header />
      <main id="main">
        <h1>Your own cloud workstation, with Claude Code</h1>
        <p className="muted">
          A persistent Linux machine that keeps your projects, a terminal in the browser, and Claude
          working in your repositories. It pauses when you stop and wakes where you left off.
        </p>
        <p>
          <a className="button primary" href="/signin/">
            Get started
          </a>
        </p>
        <h2 id="plans">Plans</h2>
        {plans.state === "loading" && <p className="muted">Loading the plans…</p>}
        {plans.state === "none" && (
          <p className="notice">Billing is not set up on this deployment: workstations are free. Sign in to make yours.</p>
        )}
        {plans.state === "ready" && (
          <div className="plans" aria-labelledby="plans">
            {plans.items.map((plan) => (
              <section className="card" key={plan.name} aria-label={plan.title}>
                <h3>{plan.title}</h3>
                <p className="price">{plan.price}</p>
                <ul>
                  <li>{plan.included_hours} hours included per month</li>
                  {plan.machine.cpus !== undefined && <li>{cpus(plan.machine.cpus)}</li>}
                  {plan.machine.memory_mb !== undefined && <li>{Math.round(plan.machine.memory_mb / 1024)} GB memory</li>}
                  {plan.machine.disk_gb !== undefined && <li>{plan.machine.disk_gb} GB disk</li>}
                </ul>
                <a className="button primary" href={`/signin/?plan=${encodeURIComponent(plan.name)}`}>
                  Choose {plan.title}
                </a>
              </section>
            ))}
          </div>
        )}
      </main>
    </>
  );
}
