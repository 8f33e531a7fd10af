"use client";

import { useCallback, useEffect, useState } from "react";
import { ApiError, api } from "@/lib/api";
import {
  BOX,
  CLAUDE_LABEL,
  claudeChart,
  hoursChart,
  money,
  projection,
  type BudgetView,
  type UsageSeries,
} from "@/lib/usage";

function shortDay(day: string): string {
  return day.slice(5);
}

function HoursChart({ series }: { series: UsageSeries }) {
  const chart = hoursChart(series);
  const every = Math.max(1, Math.ceil(series.days.length / 10));
  return (
    <svg className="chart" viewBox={`0 0 ${BOX.width} ${BOX.height}`} role="img" aria-labelledby="hours-chart-title">
      <title id="hours-chart-title">
        Hours a day from {series.from} to {series.to}: running and frozen, with the included hours&apos; pace
      </title>
      {chart.ticks.map((t) => (
        <g key={t.label}>
          <line className="grid-line" x1={BOX.left} x2={BOX.width} y1={t.y} y2={t.y} />
          <text className="axis" x={BOX.left - 4} y={t.y + 4} textAnchor="end">{t.label}</text>
        </g>
      ))}
      {chart.bars.map((b, i) => (
        <g key={b.day}>
          <rect className="running" x={b.x} y={b.running.y} width={b.width} height={b.running.height}>
            <title>{`${b.day}: ${series.days[i].running_hours.toFixed(1)} h running, ${series.days[i].frozen_hours.toFixed(1)} h frozen`}</title>
          </rect>
          <rect className="frozen" x={b.x} y={b.frozen.y} width={b.width} height={b.frozen.height} />
          {i % every === 0 && (
            <text className="axis" x={b.x + b.width / 2} y={BOX.height - 6} textAnchor="middle">{shortDay(b.day)}</text>
          )}
        </g>
      ))}
      {chart.pace && <polyline className="pace" points={chart.pace} />}
      <polyline className="used" points={chart.used} />
      {chart.used && <circle className="used-dot" r={3} cx={chart.used.split(" ").at(-1)?.split(",")[0]} cy={chart.used.split(" ").at(-1)?.split(",")[1]} />}
    </svg>
  );
}

function ClaudeChart({ series }: { series: UsageSeries }) {
  const chart = claudeChart(series);
  const every = Math.max(1, Math.ceil(series.days.length / 10));
  return (
    <svg className="chart" viewBox={`0 0 ${BOX.width} ${BOX.height}`} role="img" aria-labelledby="claude-chart-title">
      <title id="claude-chart-title">Claude&apos;s spend a day from {series.from} to {series.to}</title>
      <text className="axis" x={BOX.left - 4} y={BOX.top + 8} textAnchor="end">{money(chart.max)}</text>
      <line className="grid-line" x1={BOX.left} x2={BOX.width} y1={BOX.height - BOX.bottom} y2={BOX.height - BOX.bottom} />
      {chart.bars.map((b, i) => (
        <g key={b.day}>
          <rect className="claude" x={b.x} y={b.y} width={b.width} height={b.height}>
            <title>{`${b.day}: ${money(b.usd)}`}</title>
          </rect>
          {i % every === 0 && (
            <text className="axis" x={b.x + b.width / 2} y={BOX.height - 6} textAnchor="middle">{shortDay(b.day)}</text>
          )}
        </g>
      ))}
    </svg>
  );
}

function BudgetCard() {
  const [budget, setBudget] = useState<BudgetView | null>(null);
  const [amount, setAmount] = useState("");
  const [hardStop, setHardStop] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [pending, setPending] = useState(false);

  useEffect(() => {
    api<BudgetView>("/me/budget").then(
      (found) => {
        setBudget(found);
        if (found.monthly_limit_usd !== null) setAmount(String(found.monthly_limit_usd));
        setHardStop(found.hard_stop);
      },
      (e) => setProblem(e instanceof ApiError ? e.detail : "The budget could not be read."),
    );
  }, []);

  async function change(method: "PUT" | "DELETE") {
    setProblem(null);
    setPending(true);
    try {
      const body = method === "PUT" ? JSON.stringify({ monthly_limit_usd: Number(amount), hard_stop: hardStop }) : undefined;
      await api<BudgetView | undefined>("/me/budget", { method, body });
      setBudget(await api<BudgetView>("/me/budget"));
      if (method === "DELETE") {
        setAmount("");
        setHardStop(false);
      }
    } catch (e) {
      setProblem(e instanceof ApiError ? e.detail : "The platform did not answer. Try again.");
    } finally {
      setPending(false);
    }
  }

  const set = budget?.monthly_limit_usd !== null && budget?.monthly_limit_usd !== undefined;
  return (
    <section className="card" aria-labelledby="budget-title">
      <h2 id="budget-title">Budget</h2>
      {budget && set ? (
        <>
          <p data-testid="budget-summary">
            {money(budget.spent_usd)} of {money(budget.monthly_limit_usd ?? 0)} this period ({budget.percent.toFixed(0)} %)
            {budget.hard_stop ? ", hard stop" : ", alerts only"}
          </p>
          <progress aria-label="Budget spent" max={100} value={Math.min(budget.percent, 100)} />
          {budget.reached && (
            <p className="notice">
              Reached: your workstation is paused, and creating, waking and chatting are refused until you raise or clear the budget.
            </p>
          )}
        </>
      ) : (
        <p className="muted">No budget set. It covers the overage (and Claude tokens your plan provides): mails at 75, 90 and 100 %.</p>
      )}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void change("PUT");
        }}
      >
        <label htmlFor="budget-amount">Monthly budget (US dollars)</label>
        <input id="budget-amount" type="number" min="0" step="1" required value={amount} onChange={(e) => setAmount(e.target.value)} />
        <label className="check">
          <input type="checkbox" checked={hardStop} onChange={(e) => setHardStop(e.target.checked)} /> Pause my workstation when it is spent (hard stop)
        </label>
        <div className="actions">
          <button className="primary" type="submit" disabled={pending || amount === ""}>Set budget</button>
          {set && (
            <button type="button" disabled={pending} onClick={() => void change("DELETE")}>Clear budget</button>
          )}
        </div>
      </form>
      {problem && <p className="error" role="alert">{problem}</p>}
    </section>
  );
}

export function UsageTab({ billingOn }: { billingOn: boolean }) {
  const [series, setSeries] = useState<UsageSeries | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  const load = useCallback(() => {
    api<UsageSeries>("/billing/usage").then(
      (found) => {
        setSeries(found);
        setProblem(null);
      },
      (e) => setProblem(e instanceof ApiError ? e.detail : "Your usage could not be read."),
    );
  }, []);
  useEffect(() => {
    load();
    const timer = window.setInterval(load, 60_000);
    return () => window.clearInterval(timer);
  }, [load]);

  const pace = series ? projection(series) : null;
  return (
    <>
      <section className="card" aria-labelledby="hours-title">
        <h2 id="hours-title">Hours this period</h2>
        {problem && <p className="error" role="alert">{problem}</p>}
        {!series && !problem && <p className="muted">Loading your usage…</p>}
        {series && (
          <>
            <p data-testid="hours-summary">
              {series.hours_used.toFixed(1)} h used
              {series.hours_included !== null && ` of ${series.hours_included} included`}
              {series.plan && ` (${series.plan})`}
              {series.current_period_end && `, period ends ${new Date(series.current_period_end).toLocaleDateString()}`}
            </p>
            <HoursChart series={series} />
            <ul className="legend" aria-label="Legend">
              <li><span className="swatch running" /> running</li>
              <li><span className="swatch frozen" /> frozen</li>
              <li><span className="swatch used" /> hours so far</li>
              <li><span className="swatch pace" /> included hours&apos; pace</li>
            </ul>
            {pace && <p>{pace}</p>}
            <p data-testid="overage">
              Overage so far: <strong>{money(series.overage_usd)}</strong>
              {series.overage_hours > 0 && ` (${series.overage_hours.toFixed(1)} h at ${money(series.overage_usd_per_hour)} an hour)`}
            </p>
          </>
        )}
      </section>
      {series && (
        <section className="card" aria-labelledby="claude-title">
          <h2 id="claude-title">Claude&apos;s spend</h2>
          <p className="muted" data-testid="claude-label">{CLAUDE_LABEL[series.claude_billed_by]}</p>
          <p data-testid="claude-total">
            {money(series.claude_usd)} from {series.from} to {series.to}
            {series.claude_billed_by === "platform" && `; ${money(series.platform_tokens_usd)} metered this period`}
          </p>
          <ClaudeChart series={series} />
        </section>
      )}
      {billingOn ? <BudgetCard /> : <p className="muted">Billing is off on this deployment: your hours are free, and no budget applies.</p>}
    </>
  );
}
