"use client";

import dynamic from "next/dynamic";
import { useCallback, useEffect, useState } from "react";
import { ChatTab } from "@/components/ChatTab";
import { Header } from "@/components/Header";
import { Overview } from "@/components/Overview";
import { ProjectsTab } from "@/components/ProjectsTab";
import { SecurityTab } from "@/components/SecurityTab";
import { UsageTab } from "@/components/UsageTab";
import { reachable } from "@/lib/instance";
import { api, type BillingStatus } from "@/lib/api";
import { session, type Session } from "@/lib/session";
import { useInstance } from "@/lib/useInstance";

const TerminalTab = dynamic(() => import("@/components/TerminalTab"), {
  ssr: false,
  loading: () => <p className="muted">Loading the terminal…</p>,
});

const TABS = ["overview", "terminal", "chat", "projects", "usage", "security"] as const;
type Tab = (typeof TABS)[number];
const TITLES: Record<Tab, string> = {
  overview: "Overview",
  terminal: "Terminal",
  chat: "Chat",
  projects: "Projects",
  usage: "Usage",
  security: "Security",
};

function tabFromHash(): Tab {
  const wanted = window.location.hash.slice(1);
  return (TABS as readonly string[]).includes(wanted) ? (wanted as Tab) : "overview";
}

export default function Dashboard() {
  const [me, setMe] = useState<Session | null>(null);
  const [tab, setTab] = useState<Tab>("overview");
  const [billing, setBilling] = useState<BillingStatus | null>(null);
  const [cwd, setCwd] = useState(".");
  const [projects, setProjects] = useState<string[]>([]);
  const { instance, loaded, live, error, refresh, accepted } = useInstance(Boolean(me?.signed_in));

  useEffect(() => {
    session()
      .then((s) => {
        if (!s.signed_in) return window.location.replace("/signin/");
        setMe(s);
        if (s.features.billing) api<BillingStatus>("/billing/status").then(setBilling, () => setBilling(null));
      })
      .catch(() => window.location.replace("/signin/"));
    setTab(tabFromHash());
    const onHash = () => setTab(tabFromHash());
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);

  // Paid, but the workstation is still being made: look again until it appears.
  const waitingForPaidInstance = Boolean(billing?.enabled && billing.entitled && loaded && !instance);
  useEffect(() => {
    if (!waitingForPaidInstance) return;
    const timer = window.setInterval(() => void refresh(), 2000);
    return () => window.clearInterval(timer);
  }, [waitingForPaidInstance, refresh]);
  useEffect(() => {
    if (new URLSearchParams(window.location.search).has("checkout")) {
      api<BillingStatus>("/billing/status").then(setBilling, () => undefined);
      window.history.replaceState(null, "", `/dashboard/${window.location.hash}`);
    }
  }, [me]);

  const choose = useCallback((next: Tab) => {
    setTab(next);
    window.history.replaceState(null, "", `#${next}`);
  }, []);

  const openInChat = useCallback(
    (path: string) => {
      setCwd(path);
      choose("chat");
    },
    [choose],
  );

  if (!me) {
    return (
      <main id="main" className="narrow">
        <p className="muted">Loading…</p>
      </main>
    );
  }
  // The terminal, chat and projects open on a paused or frozen workstation too: opening wakes it.
  const running = !!instance && reachable(instance.status);
  return (
    <>
      <Header email={me.email} />
      <main id="main">
        <h1>Your workstation</h1>
        <div role="tablist" aria-label="Dashboard" onKeyDown={(e) => {
          const index = TABS.indexOf(tab);
          const step = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? TABS.length - 1 : 0;
          if (!step) return;
          const next = TABS[(index + step) % TABS.length];
          choose(next);
          document.getElementById(`tab-${next}`)?.focus();
        }}>
          {TABS.map((t) => (
            <button
              key={t}
              type="button"
              role="tab"
              id={`tab-${t}`}
              aria-selected={tab === t}
              aria-controls={`panel-${t}`}
              tabIndex={tab === t ? 0 : -1}
              onClick={() => choose(t)}
            >
              {TITLES[t]}
            </button>
          ))}
        </div>
        <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
          {tab === "overview" && (
            <Overview
              instance={instance}
              live={live}
              error={error}
              billing={billing}
              billingOn={me.features.billing}
              activityOn={me.features.activity}
              onAccepted={accepted}
            />
          )}
          {tab !== "overview" && tab !== "security" && tab !== "usage" && !instance && (
            <p className="notice">Create your workstation on the Overview tab first.</p>
          )}
          {tab === "terminal" && instance && <TerminalTab instanceId={instance.id} running={running} />}
          {tab === "chat" && instance && (
            <ChatTab instanceId={instance.id} running={running} cwd={cwd} projects={projects} onCwd={setCwd} />
          )}
          {tab === "projects" && instance && (
            <ProjectsTab instanceId={instance.id} running={running} onOpen={openInChat} onList={setProjects} />
          )}
          {tab === "usage" && <UsageTab billingOn={me.features.billing} />}
          {tab === "security" && <SecurityTab />}
        </div>
      </main>
    </>
  );
}
