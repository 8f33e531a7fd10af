// The usage page's data (GET /billing/usage, GET|PUT|DELETE /me/budget) and the chart's geometry,
// as pure functions the tests read.

export type UsageDay = {
  day: string;
  running_hours: number;
  frozen_hours: number;
  billed_hours: number;
  claude_usd: number;
  claude_input_tokens: number;
  claude_output_tokens: number;
};

export type UsageSeries = {
  from: string;
  to: string;
  days: UsageDay[];
  plan: string | null;
  current_period_start: string | null;
  current_period_end: string | null;
  hours_included: number | null;
  hours_used: number;
  hours_projected: number | null;
  overage_hours: number;
  overage_usd: number;
  overage_projected_usd: number | null;
  overage_usd_per_hour: number;
  claude_usd: number;
  claude_billed_by: "anthropic" | "platform";
  platform_tokens_usd: number;
};

export type BudgetView = {
  monthly_limit_usd: number | null;
  hard_stop: boolean;
  spent_usd: number;
  percent: number;
  alerts_sent: number[];
  reached: boolean;
  current_period_start: string | null;
  current_period_end: string | null;
};

export function cpus(count: number): string {
  return `${count} CPU${count === 1 ? "" : "s"}`;
}

/** Dollars and cents; less than a cent (a chat turn of Claude) to a hundredth of a cent. */
export function money(usd: number): string {
  const digits = usd !== 0 && Math.abs(usd) < 0.01 ? 4 : 2;
  return `$${usd.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })}`;
}

export const CLAUDE_LABEL: Record<UsageSeries["claude_billed_by"], string> = {
  anthropic: "Billed by Anthropic to your own key or subscription: shown here so you see it, not charged again.",
  platform: "Provided with your plan: metered with your hours and counted by your budget.",
};

export type Box = { width: number; height: number; left: number; bottom: number; top: number };
export const BOX: Box = { width: 720, height: 240, left: 36, bottom: 24, top: 8 };

export type Bar = { day: string; x: number; width: number; running: { y: number; height: number }; frozen: { y: number; height: number } };

export type HoursChart = {
  bars: Bar[];
  /** The included hours spread evenly over the period, cumulative (x, y per day). */
  pace: string | null;
  /** The billed hours so far, cumulative (x, y per day). */
  used: string;
  /** The highest value on the hours axis. */
  max: number;
  ticks: { y: number; label: string }[];
};

function dayIndex(from: string, day: string): number {
  return Math.round((Date.parse(`${day}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000);
}

/** The pace line's value on ``day``: the included hours as far into the period as that day's end. */
export function paceOn(series: UsageSeries, day: string): number | null {
  const { current_period_start: start, current_period_end: end, hours_included: included } = series;
  if (!start || !end || !included) return null;
  const length = Math.max(1, dayIndex(start.slice(0, 10), end.slice(0, 10)));
  const into = Math.min(Math.max(dayIndex(start.slice(0, 10), day) + 1, 0), length);
  return (included * into) / length;
}

export function todayUtc(): string {
  return new Date().toISOString().slice(0, 10);
}

/** Daily bars (running below, frozen stacked above) and two cumulative lines on one hours axis:
 * the included hours' pace over the whole series, the hours so far up to ``today``. */
export function hoursChart(series: UsageSeries, box: Box = BOX, today: string = todayUtc()): HoursChart {
  const n = Math.max(series.days.length, 1);
  const plotW = box.width - box.left;
  const plotH = box.height - box.bottom - box.top;
  let cumulative = 0;
  const used: number[] = [];
  const pace: (number | null)[] = [];
  for (const d of series.days) {
    cumulative += d.billed_hours;
    if (d.day <= today) used.push(cumulative);
    pace.push(paceOn(series, d.day));
  }
  const daily = series.days.map((d) => d.running_hours + d.frozen_hours);
  const max = niceCeiling(Math.max(1, ...daily, ...used, ...pace.map((p) => p ?? 0)));
  const y = (hours: number) => box.top + plotH - (hours / max) * plotH;
  const slot = plotW / n;
  const bars = series.days.map((d, i) => {
    const x = box.left + i * slot + slot * 0.15;
    const runningTop = y(d.running_hours);
    const frozenTop = y(d.running_hours + d.frozen_hours);
    return {
      day: d.day,
      x,
      width: slot * 0.7,
      running: { y: runningTop, height: y(0) - runningTop },
      frozen: { y: frozenTop, height: runningTop - frozenTop },
    };
  });
  const mid = (i: number) => box.left + i * slot + slot / 2;
  const line = (values: number[]) => values.map((v, i) => `${mid(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  const known = pace.every((p) => p !== null) && pace.length > 0;
  const ticks = [0, 0.5, 1].map((f) => ({ y: y(max * f), label: `${+(max * f).toFixed(1)} h` }));
  return { bars, pace: known ? line(pace as number[]) : null, used: line(used), max, ticks };
}

/** Claude's spend per day as bars on its own money axis. */
export function claudeChart(series: UsageSeries, box: Box = BOX): { bars: { day: string; x: number; y: number; width: number; height: number; usd: number }[]; max: number } {
  const n = Math.max(series.days.length, 1);
  const plotW = box.width - box.left;
  const plotH = box.height - box.bottom - box.top;
  const max = niceCeiling(Math.max(0.01, ...series.days.map((d) => d.claude_usd)));
  const slot = plotW / n;
  const bars = series.days.map((d, i) => {
    const height = (d.claude_usd / max) * plotH;
    return { day: d.day, x: box.left + i * slot + slot * 0.15, y: box.top + plotH - height, width: slot * 0.7, height, usd: d.claude_usd };
  });
  return { bars, max };
}

function niceCeiling(value: number): number {
  const power = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 2.5, 5, 10].find((s) => s * power >= value) ?? 10;
  return step * power;
}

/** Where the period ends at today's pace, in words. */
export function projection(series: UsageSeries): string | null {
  if (series.hours_projected === null) return null;
  const included = series.hours_included;
  let text = `At today's pace the period ends at ${series.hours_projected.toFixed(1)} h`;
  if (included !== null) text += ` of ${included} included`;
  if (series.overage_projected_usd) text += `, ${money(series.overage_projected_usd)} over`;
  return `${text}.`;
}
