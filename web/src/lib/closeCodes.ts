// What a closed terminal or chat socket means for the person looking at it. The gateway closes
// with 4000 + the HTTP status of its refusal (services/gateway/.../workspace/routes.py).

export type CloseVerdict = {
  /** A sentence for a person. */
  message: string;
  /** Whether opening again (with a fresh ticket) can help. */
  retry: boolean;
  /** Whether the person must sign in again. */
  signIn: boolean;
};

const VERDICTS: Record<number, CloseVerdict> = {
  4401: {
    message: "Your sign-in for this connection was not accepted (it may have expired). Sign in again.",
    retry: false,
    signIn: true,
  },
  4403: {
    message: "This workstation is not yours, or this page's address is not allowed to open it.",
    retry: false,
    signIn: false,
  },
  4404: {
    message: "There is no such workstation any more. It may have been destroyed.",
    retry: false,
    signIn: false,
  },
  4409: {
    message: "The workstation is not running. Wake it from the Overview tab, then reconnect.",
    retry: false,
    signIn: false,
  },
  4502: {
    message: "The workstation's agent is not answering. It may be starting or stopping; reconnecting…",
    retry: true,
    signIn: false,
  },
  4503: {
    message: "The platform is busy or restarting. Reconnecting…",
    retry: true,
    signIn: false,
  },
  1000: { message: "The connection was closed.", retry: false, signIn: false },
  1001: { message: "The workstation went away (it may be pausing). Reconnecting…", retry: true, signIn: false },
  1006: { message: "The connection dropped. Reconnecting…", retry: true, signIn: false },
  1011: { message: "The workstation hit an error. Reconnecting…", retry: true, signIn: false },
};

/** The verdict for a close code; the server's reason is kept when the code is unknown. */
export function closeVerdict(code: number, reason = ""): CloseVerdict {
  const known = VERDICTS[code];
  if (known) return known;
  const detail = reason ? `: ${reason}` : "";
  return { message: `The connection closed (code ${code})${detail}. Reconnecting…`, retry: true, signIn: false };
}
