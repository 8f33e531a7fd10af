// The user's git provider (GitHub): what the gateway says of it, and what the OAuth callback's
// return to the dashboard means (`?git=connected&account=…` or `?git_error=<kind>`).

export type GitAccount = { login: string; scopes: string[]; connected_at: string };

export type GitConnection = {
  provider: string;
  name: string;
  host: string;
  connected: boolean;
  account: GitAccount | null;
};

export type Repository = {
  full_name: string;
  name: string;
  owner: string;
  private: boolean;
  default_branch: string | null;
  clone_url: string;
  html_url: string | null;
  description: string | null;
};

export type Outcome = { ok: boolean; message: string };

const REFUSALS: Record<string, (name: string) => string> = {
  GitAuthorizationRejected: (name) =>
    `${name} was not connected: that authorization was begun by someone else or in another browser, expired, or was already used. Connect again.`,
  GitAccessDenied: (name) => `${name} was not connected: the authorization was declined.`,
  GitProviderRefused: (name) => `${name} refused the connection. Try again in a moment.`,
  MissingCredentials: (name) => `Sign in again, then connect ${name}.`,
  InvalidCredentials: (name) => `Sign in again, then connect ${name}.`,
  TokenRejected: (name) => `Sign in again, then connect ${name}.`,
  SignedOut: (name) => `Sign in again, then connect ${name}.`,
};

/** What a return from the provider says, from the page's query string; null when it is none. */
export function connectOutcome(search: string, name: string): Outcome | null {
  const query = new URLSearchParams(search);
  if (query.get("git") === "connected") {
    const account = query.get("account");
    return { ok: true, message: account ? `Connected ${name} as ${account}.` : `Connected ${name}.` };
  }
  const error = query.get("git_error");
  if (!error) return null;
  const say = REFUSALS[error];
  return { ok: false, message: say ? say(name) : `${name} was not connected (${error}).` };
}

/** The query string without the callback's own keys (the rest is kept). */
export function withoutOutcome(search: string): string {
  const query = new URLSearchParams(search);
  for (const key of ["git", "git_error", "account"]) query.delete(key);
  const rest = query.toString();
  return rest ? `?${rest}` : "";
}

/** "private · main", as a repository's row says it. */
export function describeRepository(repository: Repository): string {
  return [repository.private ? "private" : "public", repository.default_branch].filter(Boolean).join(" · ");
}
