import { describe, expect, it } from "vitest";
import { decode, handshake, input, resize } from "../src/lib/ttyd";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe("ttyd protocol", () => {
  it("opens with the screen's size and an empty token", () => {
    expect(JSON.parse(text(handshake(120, 30)))).toEqual({ AuthToken: "", columns: 120, rows: 30 });
  });

  it("sends keys as '0' and their UTF-8 bytes", () => {
    const frame = input("é\r");
    expect(frame[0]).toBe("0".charCodeAt(0));
    expect(text(frame.subarray(1))).toBe("é\r");
    expect(frame.length).toBe(1 + 3); // é is two bytes
  });

  it("sends a resize as '1' and the size as JSON", () => {
    const frame = resize(200, 50);
    expect(String.fromCharCode(frame[0])).toBe("1");
    expect(JSON.parse(text(frame.subarray(1)))).toEqual({ columns: 200, rows: 50 });
  });

  it("reads output, a title and preferences", () => {
    const output = decode(new TextEncoder().encode("0hello\x1b[0m"));
    expect(output.kind).toBe("output");
    expect(output.kind === "output" && text(output.data)).toBe("hello\x1b[0m");
    expect(decode(new TextEncoder().encode("1claude: bash").buffer)).toEqual({ kind: "title", title: "claude: bash" });
    expect(decode(new TextEncoder().encode('2{"fontSize":14}'))).toEqual({ kind: "preferences", preferences: { fontSize: 14 } });
  });

  it("does not throw on an empty, unknown or malformed frame", () => {
    expect(decode(new Uint8Array())).toEqual({ kind: "unknown", code: -1 });
    expect(decode(new TextEncoder().encode("9x"))).toEqual({ kind: "unknown", code: "9".charCodeAt(0) });
    expect(decode(new TextEncoder().encode("2{not json"))).toEqual({ kind: "preferences", preferences: {} });
  });
});
