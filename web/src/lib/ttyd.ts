// ttyd's wire protocol, as the agent speaks it behind the gateway (tests/ttyd.py is the Python twin).
// Every frame is binary: its first byte says what it is, the rest is the payload.

export const CLIENT = { INPUT: "0", RESIZE: "1", PAUSE: "2", RESUME: "3" } as const;
export const SERVER = { OUTPUT: "0", TITLE: "1", PREFERENCES: "2" } as const;
export const SUBPROTOCOL = "tty";

const encoder = new TextEncoder();

function framed(kind: string, payload: string): Uint8Array {
  const body = encoder.encode(payload);
  const frame = new Uint8Array(body.length + 1);
  frame[0] = kind.charCodeAt(0);
  frame.set(body, 1);
  return frame;
}

/** The first message on a new socket: the screen's size, so tmux draws its first frame at it. */
export function handshake(columns: number, rows: number): Uint8Array {
  return encoder.encode(JSON.stringify({ AuthToken: "", columns, rows }));
}

/** Keys typed. */
export function input(text: string): Uint8Array {
  return framed(CLIENT.INPUT, text);
}

/** The screen changed size. */
export function resize(columns: number, rows: number): Uint8Array {
  return framed(CLIENT.RESIZE, JSON.stringify({ columns, rows }));
}

export type ServerFrame =
  | { kind: "output"; data: Uint8Array }
  | { kind: "title"; title: string }
  | { kind: "preferences"; preferences: Record<string, unknown> }
  | { kind: "unknown"; code: number };

/** One frame from the server. */
export function decode(frame: ArrayBuffer | Uint8Array): ServerFrame {
  const bytes = frame instanceof Uint8Array ? frame : new Uint8Array(frame);
  if (bytes.length === 0) return { kind: "unknown", code: -1 };
  const payload = bytes.subarray(1);
  switch (String.fromCharCode(bytes[0])) {
    case SERVER.OUTPUT:
      return { kind: "output", data: payload };
    case SERVER.TITLE:
      return { kind: "title", title: new TextDecoder().decode(payload) };
    case SERVER.PREFERENCES:
      try {
        return { kind: "preferences", preferences: JSON.parse(new TextDecoder().decode(payload)) };
      } catch {
        return { kind: "preferences", preferences: {} };
      }
    default:
      return { kind: "unknown", code: bytes[0] };
  }
}
