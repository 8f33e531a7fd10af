// What the agent clones: http, https, ssh and git URLs, and scp-like "user@host:path".

const SCHEMES = ["http:", "https:", "ssh:", "git:"];
const SCP_LIKE = /^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._~\/-]+$/;

/** Why ``url`` cannot be cloned, or null when it looks clonable. */
export function cloneUrlProblem(raw: string): string | null {
  const url = raw.trim();
  if (!url) return "Enter the repository's URL.";
  if (url.length > 2048) return "That URL is too long.";
  if (/\s/.test(url)) return "A URL has no spaces.";
  if (SCP_LIKE.test(url)) return null;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "That is not a URL: use https://host/owner/repo.git, ssh://… or git@host:owner/repo.git.";
  }
  if (!SCHEMES.includes(parsed.protocol)) return `Only http, https, ssh and git URLs can be cloned, not ${parsed.protocol.replace(":", "")}.`;
  if (!parsed.hostname) return "The URL needs a host.";
  if (parsed.pathname === "/" || !parsed.pathname) return "The URL needs the repository's path.";
  return null;
}

/** The folder a clone of ``url`` lands in when no name is given (as git names it). */
export function defaultName(url: string): string {
  const tail = url.trim().replace(/\/+$/, "").split(/[/:]/).pop() ?? "";
  return tail.replace(/\.git$/, "");
}

const NAME = /^[A-Za-z0-9._-]{1,100}$/;

export function nameProblem(name: string): string | null {
  if (!name) return null;
  if (!NAME.test(name) || name === "." || name === "..") return "A folder name is letters, digits, '.', '_' or '-'.";
  return null;
}
