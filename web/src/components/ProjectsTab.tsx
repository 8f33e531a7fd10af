"use client";

import { useCallback, useEffect, useState } from "react";
import { ApiError, api, post } from "@/lib/api";
import { cloneUrlProblem, defaultName, nameProblem } from "@/lib/git";
import { GitProviderCard } from "./GitProviderCard";

export type Project = { name: string; path: string; remote: string | null; branch: string | null };

/** The git repositories in the instance's /claude-data, and a form to clone one more. */
export function ProjectsTab(props: { instanceId: string; running: boolean; onOpen: (path: string) => void; onList: (paths: string[]) => void }) {
  const [projects, setProjects] = useState<Project[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [url, setUrl] = useState("");
  const [name, setName] = useState("");
  const [touched, setTouched] = useState(false);
  const [cloning, setCloning] = useState(false);
  const [cloneError, setCloneError] = useState<string | null>(null);
  const [cloned, setCloned] = useState<string | null>(null);
  const { instanceId, running, onList } = props;

  const load = useCallback(
    async (attempt = 0): Promise<void> => {
      try {
        const list = await api<Project[]>(`/instances/${instanceId}/projects`);
        setProjects(list);
        onList(list.map((p) => p.path));
        setError(null);
      } catch (e) {
        // Just woken, the agent may need a few seconds before it answers: ask again.
        if (e instanceof ApiError && e.status >= 502 && attempt < 4) {
          setError("The workstation is starting; asking again…");
          await new Promise((resolve) => window.setTimeout(resolve, 1000 * 2 ** attempt));
          return load(attempt + 1);
        }
        setError(e instanceof ApiError ? e.detail : "The workstation did not answer.");
      }
    },
    [instanceId, onList],
  );

  useEffect(() => {
    if (running) void load();
  }, [running, load]);

  const urlProblem = cloneUrlProblem(url);
  const folderProblem = nameProblem(name);

  async function clone(event: React.FormEvent) {
    event.preventDefault();
    setTouched(true);
    if (urlProblem || folderProblem) return;
    setCloning(true);
    setCloneError(null);
    setCloned(null);
    try {
      const project = await post<Project>(`/instances/${instanceId}/projects/clone`, name ? { url: url.trim(), name } : { url: url.trim() });
      setCloned(project.path);
      setUrl("");
      setName("");
      setTouched(false);
      await load();
    } catch (e) {
      setCloneError(e instanceof ApiError ? e.detail : "The clone did not finish. Try again.");
    } finally {
      setCloning(false);
    }
  }

  const provider = (
    <GitProviderCard instanceId={instanceId} running={running} remotes={(projects ?? []).flatMap((p) => (p.remote ? [p.remote] : []))} onCloned={() => void load()} />
  );
  if (!running) {
    return (
      <div>
        <p className="notice">The workstation is not running. Wake it from the Overview tab to see its projects.</p>
        {provider}
      </div>
    );
  }
  return (
    <div>
      <section className="card" aria-labelledby="projects-title">
        <h2 id="projects-title">Projects</h2>
        {error && <p className="error" role="alert">{error}</p>}
        {projects === null && !error && <p className="muted">Loading…</p>}
        {projects?.length === 0 && <p className="muted">No projects yet: clone one below.</p>}
        <ul className="plain" data-testid="projects">
          {projects?.map((p) => (
            <li key={p.path}>
              <span>
                <strong>{p.name}</strong> <span className="muted mono">{p.path}</span>
                {p.branch && <span className="muted"> · {p.branch}</span>}
                {p.remote && <><br /><span className="muted mono">{p.remote}</span></>}
              </span>
              <button type="button" onClick={() => props.onOpen(p.path)} aria-label={`Open ${p.name} in Chat`}>
                Open in Chat
              </button>
            </li>
          ))}
        </ul>
      </section>
      {provider}
      <section className="card" aria-labelledby="clone-title">
        <h2 id="clone-title">Clone a repository</h2>
        <form onSubmit={clone} noValidate>
          <label htmlFor="clone-url">Repository URL</label>
          <input
            id="clone-url"
            type="text"
            inputMode="url"
            placeholder="https://github.com/owner/repo.git"
            value={url}
            onChange={(e) => setUrl(e.target.value)}
            onBlur={() => setTouched(Boolean(url))}
            aria-invalid={touched && urlProblem ? true : undefined}
            aria-describedby="clone-url-help"
          />
          <p id="clone-url-help" className={touched && urlProblem ? "error" : "muted"}>
            {touched && urlProblem ? urlProblem : "http, https, ssh or git URLs, or user@host:path."}
          </p>
          <label htmlFor="clone-name">Folder (optional)</label>
          <input
            id="clone-name"
            type="text"
            placeholder={url && !urlProblem ? defaultName(url) : "as the repository is named"}
            value={name}
            onChange={(e) => setName(e.target.value)}
            aria-invalid={folderProblem ? true : undefined}
            aria-describedby={folderProblem ? "clone-name-error" : undefined}
          />
          {folderProblem && <p id="clone-name-error" className="error">{folderProblem}</p>}
          <div className="actions">
            <button className="primary" type="submit" disabled={cloning}>
              {cloning ? "Cloning…" : "Clone"}
            </button>
          </div>
          <div aria-live="polite">
            {cloning && <p className="muted" role="status">Cloning {defaultName(url) || "the repository"}… this can take a while for a large one.</p>}
            {cloneError && <p className="error" role="alert">{cloneError}</p>}
            {cloned && <p role="status">Cloned into <span className="mono">{cloned}</span>.</p>}
          </div>
        </form>
      </section>
    </div>
  );
}
