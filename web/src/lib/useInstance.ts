"use client";

import { useCallback, useEffect, useRef, useState } from "react";
import { api } from "./api";
import { current, reduce, type Instance } from "./instance";

const EVENTS = [
  "snapshot",
  "instance.requested",
  "instance.accepted",
  "instance.rejected",
  "instance.running",
  "instance.paused",
  "instance.frozen",
  "instance.woken",
  "instance.destroyed",
  "instance.failed",
];

export type Live = "connecting" | "open" | "closed";

/** The user's instance, kept current over the gateway's event stream (no reload, no polling). */
export function useInstance(enabled: boolean) {
  const [instance, setInstance] = useState<Instance | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [live, setLive] = useState<Live>("closed");
  const [error, setError] = useState<string | null>(null);
  const source = useRef<EventSource | null>(null);

  const follow = useCallback((id: string) => {
    source.current?.close();
    const stream = new EventSource(`/instances/${id}/events`);
    source.current = stream;
    setLive("connecting");
    stream.onopen = () => setLive("open");
    stream.onerror = () => setLive(stream.readyState === EventSource.CLOSED ? "closed" : "connecting");
    for (const name of EVENTS) {
      stream.addEventListener(name, (message) => {
        const data = (message as MessageEvent<string>).data;
        setInstance((before) => reduce(before, { event: name, data }));
        if (name === "instance.destroyed") {
          stream.close();
          setLive("closed");
        }
      });
    }
  }, []);

  const refresh = useCallback(async () => {
    try {
      const list = await api<Instance[]>("/instances");
      const mine = current(list);
      setInstance(mine);
      setError(null);
      if (mine && mine.status !== "destroyed") follow(mine.id);
      return mine;
    } catch (e) {
      setError(e instanceof Error ? e.message : "The instance service did not answer.");
      return null;
    } finally {
      setLoaded(true);
    }
  }, [follow]);

  useEffect(() => {
    if (!enabled) return;
    void refresh();
    return () => source.current?.close();
  }, [enabled, refresh]);

  /** A command was accepted for ``id``: show what it entered at once and follow its events. */
  const accepted = useCallback(
    (id: string, status: Instance["status"]) => {
      setInstance((before) =>
        before && before.id === id
          ? { ...before, status }
          : { id, user_id: "", status, provider: "", created_at: "", updated_at: "" },
      );
      if (source.current?.url.endsWith(`/instances/${id}/events`) && source.current.readyState !== EventSource.CLOSED) return;
      follow(id);
    },
    [follow],
  );

  return { instance, loaded, live, error, refresh, accepted };
}
