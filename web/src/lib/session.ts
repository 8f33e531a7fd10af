// Who is signed in and which optional services answer, asked once per page without a 401
// (a refused fetch is a console error in every browser).

import { api } from "./api";

export type Session = {
  signed_in: boolean;
  email: string | null;
  features: { billing: boolean; activity: boolean };
};

export function session(): Promise<Session> {
  return api<Session>("/web/session");
}

export async function signOut(): Promise<void> {
  await fetch("/auth/logout", { method: "POST", credentials: "same-origin" });
  window.location.assign("/");
}
