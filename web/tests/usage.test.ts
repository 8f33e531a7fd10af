import { describe, expect, it } from "vitest";
import { CLAUDE_LABEL, claudeChart, cpus, hoursChart, money, paceOn, projection, type UsageSeries } from "../src/lib/usage";

function day(date: string, running: number, frozen = 0, claude = 0) {
  return { day: date, running_hours: running, frozen_hours: frozen, billed_hours: running, claude_usd: claude, claude_input_tokens: 0, claude_output_tokens: 0 };
}

const SERIES: UsageSeries = {
  from: "2026-12-01",
  to: "2026-12-03",
  days: [day("2026-12-01", 4, 0, 1.5), day("2026-12-02", 2, 6), day("2026-12-03", 0)],
  plan: "starter",
  current_period_start: "2026-12-01T00:00:00Z",
  current_period_end: "2026-12-31T00:00:00Z",
  hours_included: 30,
  hours_used: 6,
  hours_projected: 60,
  overage_hours: 0,
  overage_usd: 0,
  overage_projected_usd: 15,
  overage_usd_per_hour: 0.5,
  claude_usd: 1.5,
  claude_billed_by: "anthropic",
  platform_tokens_usd: 0,
};

describe("the usage page", () => {
  it("says 1 CPU and 2 CPUs", () => {
    expect(cpus(1)).toBe("1 CPU");
    expect(cpus(2)).toBe("2 CPUs");
    expect(money(1234.5)).toBe("$1,234.50");
    expect(money(0.00061)).toBe("$0.0006");
    expect(money(0)).toBe("$0.00");
  });

  it("paces the included hours evenly over the period", () => {
    expect(paceOn(SERIES, "2026-12-01")).toBe(1);
    expect(paceOn(SERIES, "2026-12-30")).toBe(30);
    expect(paceOn({ ...SERIES, hours_included: null }, "2026-12-01")).toBeNull();
  });

  it("stacks frozen above running and draws the pace and the hours so far", () => {
    const chart = hoursChart(SERIES, undefined, "2026-12-03");
    expect(chart.bars).toHaveLength(3);
    const [first, second, third] = chart.bars;
    expect(second.frozen.height).toBeCloseTo(3 * second.running.height);
    expect(second.frozen.y + second.frozen.height).toBeCloseTo(second.running.y);
    expect(first.running.height).toBeCloseTo(2 * second.running.height);
    expect(third.running.height + third.frozen.height).toBe(0);
    expect(chart.pace?.split(" ")).toHaveLength(3);
    expect(chart.used.split(" ")).toHaveLength(3);
    expect(chart.max).toBeGreaterThanOrEqual(8);
    expect(hoursChart({ ...SERIES, current_period_start: null }).pace).toBeNull();
    expect(hoursChart(SERIES, undefined, "2026-12-02").used.split(" ")).toHaveLength(2); // not past today
  });

  it("draws Claude's spend on its own axis and labels who bills it", () => {
    const chart = claudeChart(SERIES);
    expect(chart.bars[0].height).toBeGreaterThan(0);
    expect(chart.bars[1].height).toBe(0);
    expect(CLAUDE_LABEL.anthropic).toContain("Billed by Anthropic");
    expect(projection(SERIES)).toBe("At today's pace the period ends at 60.0 h of 30 included, $15.00 over.");
  });
});
