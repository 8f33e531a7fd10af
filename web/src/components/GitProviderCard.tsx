"use client";

import { useCallback, useEffect, useState } from "react";
import { ApiError, api, post } from "@/lib/api";
import { connectOutcome, describeRepository, withoutOutcome, type GitConnection, type Outcome, type Repository } from "@/lib/gitProvider";
import { Confirm } from "./Confirm";

type Page = { repositories: Repository[]; page: number; more: boolean };

/** The user's git provider on the Projects tab: connect it (the OAuth web flow), see the account,
 * list its repositories and clone one with a click, disconnect it. Nothing when none is offered. */
export function GitProviderCard(props: { instanceId: string; running: boolean; remotes: string[]; onCloned: () => void }) {
  const [connection, setConnection] = useState<GitConnection | null>(null);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [repositories, setRepositories] = useState<Repository[]>([]);
  const [page, setPage] = useState<Page | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [asking, setAsking] = useState(false);
  const { instanceId, onCloned } = props;

  const load = useCallback(async () => {
    try {
      const found = await api<GitConnection[]>("/me/git");
      const first = found[0] ?? null;
      setConnection(first);
      if (first) {
        const said = connectOutcome(window.location.search, first.name);
        if (said) {
          setOutcome(said);
          window.history.replaceState(null, "", `/dashboard/${withoutOutcome(window.location.search)}${window.location.hash}`);
        }
      }
    } catch (e) {
      setProblem(e instanceof ApiError ? e.detail : "The git provider's status did not load.");
    }
  }, []);

  const more = useCallback(
    async (next: number) => {
      if (!connection?.connected) return;
      try {
        const found = await api<Page>(`/me/git/${connection.provider}/repos?page=${next}`);
        setRepositories((earlier) => (next === 1 ? found.repositories : [...earlier, ...found.repositories]));
        setPage(found);
      } catch (e) {
        setProblem(e instanceof ApiError ? e.detail : `${connection.name} did not list your repositories.`);
      }
    },
    [connection],
  );

  useEffect(() => {
    void load();
  }, [load]);
  useEffect(() => {
    void more(1);
  }, [more]);

  if (!connection) return problem ? <p className="error" role="alert">{problem}</p> : null;
  const { name, provider } = connection;

  async function connect() {
    try {
      const started = await post<{ url: string }>(`/me/git/${provider}/authorize`);
      window.location.assign(started.url);
    } catch (e) {
      setProblem(e instanceof ApiError ? e.detail : `${name} could not be reached. Try again.`);
    }
  }

  async function disconnect() {
    setAsking(false);
    try {
      await api<void>(`/me/git/${provider}`, { method: "DELETE" });
      setRepositories([]);
      setPage(null);
      setOutcome({ ok: true, message: `Disconnected ${name}: its token is revoked.` });
      await load();
    } catch (e) {
      setProblem(e instanceof ApiError ? e.detail : `${name} did not answer. Try again.`);
    }
  }

  async function clone(repository: Repository) {
    setBusy(repository.full_name);
    setProblem(null);
    try {
      await post(`/instances/${instanceId}/projects/clone`, { url: repository.clone_url });
      setOutcome({ ok: true, message: `Cloned ${repository.full_name} into ~/${repository.name}.` });
      onCloned();
    } catch (e) {
      setProblem(e instanceof ApiError ? e.detail : "The clone did not finish. Try again.");
    } finally {
      setBusy(null);
    }
  }

  return (
    <section className="card" aria-labelledby="git-title">
      <h2 id="git-title">{name}</h2>
      <div aria-live="polite">
        {outcome && <p className={outcome.ok ? "" : "error"} role={outcome.ok ? "status" : "alert"}>{outcome.message}</p>}
        {problem && <p className="error" role="alert">{problem}</p>}
      </div>
      {connection.connected && connection.account ? (
        <>
          <p data-testid="git-account">
            Connected as <strong>{connection.account.login}</strong>{" "}
            <span className="muted">(scopes: {connection.account.scopes.join(", ") || "none"})</span>
          </p>
          <p className="muted">Git on your workstation clones and pushes your repositories with no password: in the terminal, with Claude, and here.</p>
          <ul className="plain" data-testid="repositories">
            {repositories.map((r) => (
              <li key={r.full_name}>
                <span>
                  <strong>{r.full_name}</strong> <span className="muted">· {describeRepository(r)}</span>
                </span>
                {props.remotes.includes(r.clone_url) ? (
                  <span className="muted">Cloned</span>
                ) : (
                  <button type="button" disabled={!props.running || busy !== null} onClick={() => void clone(r)} aria-label={`Clone ${r.full_name}`}>
                    {busy === r.full_name ? "Cloning…" : "Clone"}
                  </button>
                )}
              </li>
            ))}
          </ul>
          {page?.repositories.length === 0 && page.page === 1 && <p className="muted">No repositories yet.</p>}
          <div className="actions">
            {page?.more && <button type="button" onClick={() => void more(page.page + 1)}>More repositories</button>}
            <button type="button" className="danger" onClick={() => setAsking(true)}>Disconnect {name}</button>
          </div>
        </>
      ) : (
        <>
          <p>Connect your {name} account once: your workstation's git then clones and pushes your private repositories with no password, from the terminal, Claude and this tab.</p>
          <div className="actions">
            <button className="primary" type="button" onClick={() => void connect()}>Connect {name}</button>
          </div>
        </>
      )}
      {asking && (
        <Confirm open title={`Disconnect ${name}?`} confirmLabel="Disconnect" danger onConfirm={() => void disconnect()} onCancel={() => setAsking(false)}>
          <p>Its token is revoked; git on your workstation asks you to connect again.</p>
        </Confirm>
      )}
    </section>
  );
}
