"""``claude-cloud plans``, ``subscribe``, ``usage``, ``budget`` and ``billing``: choose a plan and
pay from the terminal, see where the hours and Claude's spend go, cap them with a budget, and
open Stripe's billing portal.
"""

from __future__ import annotations

import time
import webbrowser
from datetime import date
from typing import Annotated, Any

import typer

from .main import Context, _ctx, _live_instance, fail, wait_running

BAR = 32
"""The longest bar of ``usage``: the day with the most hours."""
RUNNING, FROZEN = "█", "░"
PLATFORM = "platform"
"""``claude_billed_by`` when the plan provides the key (the tokens are metered like hours)."""

budget = typer.Typer(
    help="A monthly budget over the overage (and platform-provided Claude tokens): mails at "
    "75, 90 and 100 %, and with --hard-stop your workstation is paused when it is spent.",
    no_args_is_help=True,
)


def cpus(count: float) -> str:
    return f"{count:g} CPU" + ("" if count == 1 else "s")


def describe_plan(plan: dict[str, Any]) -> str:
    """One plan on one line: its name, price, hours and machine."""
    machine = plan.get("machine", {})
    parts = [f"{plan['included_hours']:g} h included"]
    if "cpus" in machine:
        parts.append(cpus(machine["cpus"]))
    if "memory_mb" in machine:
        parts.append(f"{machine['memory_mb'] / 1024:g} GB memory")
    if "disk_gb" in machine:
        parts.append(f"{machine['disk_gb']} GB disk")
    if plan.get("overage_usd_per_hour"):
        parts.append(f"then ${plan['overage_usd_per_hour']:.2f} an hour")
    return f"{plan['name']:<12} {plan['title']} · {plan['price']} · " + ", ".join(parts)


def plans(ctx: typer.Context) -> None:
    """The plans on offer (subscribe with `claude-cloud subscribe PLAN`)."""
    found = _ctx(ctx).call("GET", "/billing/plans", signed_in=False)["items"]
    if not found:
        typer.echo("Billing is off on this deployment: workstations are free.")
        return
    for plan in found:
        typer.echo(describe_plan(plan))
    typer.echo("Subscribe with: claude-cloud subscribe PLAN")


def _open(url: str) -> None:
    """Open ``url`` where a browser exists; the address is printed either way."""
    try:
        opened = webbrowser.open(url)
    except webbrowser.Error:
        opened = False
    if opened:
        typer.echo("Opened in your browser.")


Timeout = Annotated[float, typer.Option(help="Seconds to wait for payment and `running`")]
NoWait = Annotated[bool, typer.Option("--no-wait", help="Print the address and return")]


def subscribe(
    ctx: typer.Context,
    plan: Annotated[str, typer.Argument(help="The plan's name (see `claude-cloud plans`)")],
    no_wait: NoWait = False,
    timeout: Timeout = 900,
) -> None:
    """Pay for a plan on Stripe's checkout page, then wait for your workstation."""
    state = _ctx(ctx)
    session = state.call("POST", "/billing/checkout", json={"plan": plan})
    typer.echo(f"Pay for {plan} here: {session['url']}")
    _open(session["url"])
    if no_wait:
        return
    typer.echo("Waiting for the payment and your workstation (Ctrl-C to stop)…")
    deadline = time.monotonic() + timeout
    while (instance := _live_instance(state)) is None:
        if time.monotonic() > deadline:
            fail(f"no workstation after {timeout:g} s; `claude-cloud status` shows where it is")
        time.sleep(2)
    typer.echo(f"Instance {instance['id']}: {instance['status']}")
    if instance["status"] != "running":
        wait_running(state, instance["id"], max(deadline - time.monotonic(), 30))


def billing(ctx: typer.Context) -> None:
    """Stripe's billing portal: cancel, change the card, see invoices."""
    url = _ctx(ctx).call("POST", "/billing/portal")["url"]
    typer.echo(f"Your billing portal: {url}")
    _open(url)


def money(usd: float) -> str:
    """Dollars and cents; a few cents' worth of Claude to a hundredth of a cent."""
    return f"${usd:,.4f}" if 0 < abs(usd) < 0.01 else f"${usd:,.2f}"


def usage_chart(series: dict[str, Any]) -> list[str]:
    """``GET /billing/usage`` as text: a row a day with its running and frozen bars, the hours
    so far against the included hours' pace, and Claude's spend beside them."""
    days = series["days"]
    included = series.get("hours_included")
    lines = [_heading(series)]
    if not days:
        return [*lines, "No usage in these days."]
    widest = max((d["running_hours"] + d["frozen_hours"] for d in days), default=0) or 1
    pace = _pace(series)
    lines.append(
        f"{'day':<10} {'running':>7} {'frozen':>6}  {'':<{BAR}}  {'so far':>6}"
        + (f" {'pace':>5}" if pace else "")
        + f"  {'Claude':>8}"
    )
    so_far = 0.0
    for day in days:
        so_far += day["billed_hours"]
        bar = RUNNING * round(BAR * day["running_hours"] / widest)
        bar += FROZEN * round(BAR * day["frozen_hours"] / widest)
        line = (
            f"{day['day']:<10} {day['running_hours']:>7.1f} {day['frozen_hours']:>6.1f}  "
            f"{bar:<{BAR}}  {so_far:>6.1f}"
        )
        if pace:
            allowed = pace.get(day["day"])
            mark = "" if allowed is None else f"{allowed:>5.1f}"
            over = "!" if allowed is not None and so_far > allowed else " "
            line += f"{over}{mark:>5}"
        lines.append(line + f"  {money(day['claude_usd']):>8}")
    lines.append(f"{RUNNING} running  {FROZEN} frozen" + (", ! ahead of the pace" if pace else ""))
    return lines + _totals(series, included)


def _heading(series: dict[str, Any]) -> str:
    plan = series.get("plan") or "no plan"
    end = series.get("current_period_end")
    ends = f", period ends {end[:10]}" if end else ""
    return f"Usage {series['from']} to {series['to']} ({plan}{ends})"


def _pace(series: dict[str, Any]) -> dict[str, float]:
    """The included hours spread evenly over the period: where the hours so far may be on each
    day (the dashboard's line), by day."""
    start, end = series.get("current_period_start"), series.get("current_period_end")
    included = series.get("hours_included")
    if not (start and end and included):
        return {}
    first, last = date.fromisoformat(start[:10]), date.fromisoformat(end[:10])
    length = max((last - first).days, 1)
    return {
        d["day"]: included
        * min(max((date.fromisoformat(d["day"]) - first).days + 1, 0), length)
        / length
        for d in series["days"]
    }


def _totals(series: dict[str, Any], included: float | None) -> list[str]:
    used = f"{series['hours_used']:.1f} h used"
    if included is not None:
        used += f" of {included:g} included"
    if series.get("hours_projected") is not None:
        used += f"; {series['hours_projected']:.1f} h at the period's end at this pace"
    lines = [used]
    overage = f"Overage so far: {money(series['overage_usd'])}"
    if series.get("overage_hours"):
        rate = money(series["overage_usd_per_hour"])
        overage += f" ({series['overage_hours']:.1f} h at {rate} an hour)"
    if series.get("overage_projected_usd") is not None:
        overage += f"; {money(series['overage_projected_usd'])} projected"
    lines.append(overage)
    claude = f"Claude: {money(series['claude_usd'])} over these days"
    if series.get("claude_billed_by") == PLATFORM:
        claude += f", metered with your plan ({money(series['platform_tokens_usd'])} this period)"
    else:
        claude += ", billed by Anthropic to your own key (shown here, not charged again)"
    return [*lines, claude]


def usage(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD)")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Last day (YYYY-MM-DD)")] = None,
) -> None:
    """Hours a day this period (running and frozen), the included hours' pace, the overage,
    and Claude's spend beside them."""
    params = {k: v for k, v in (("from", since), ("to", until)) if v}
    series = _ctx(ctx).call("GET", "/billing/usage", params=params)
    typer.echo("\n".join(usage_chart(series)))


def describe_budget(view: dict[str, Any]) -> str:
    if view.get("monthly_limit_usd") is None:
        return "No budget set: `claude-cloud budget set AMOUNT [--hard-stop]` sets one."
    stop = "hard stop" if view["hard_stop"] else "alerts only"
    text = (
        f"Budget {money(view['monthly_limit_usd'])} a month ({stop}): "
        f"{money(view['spent_usd'])} spent this period ({view['percent']:.0f} %)"
    )
    if view.get("alerts_sent"):
        text += "; alerts sent at " + ", ".join(f"{a} %" for a in view["alerts_sent"])
    if view.get("reached"):
        text += (
            "\nReached: your workstation is paused and create, wake and chat are refused "
            "until you raise it (`claude-cloud budget set`) or clear it."
        )
    return text


@budget.command("set")
def budget_set(
    ctx: typer.Context,
    amount: Annotated[float, typer.Argument(help="US dollars a month", min=0)],
    hard_stop: Annotated[
        bool, typer.Option("--hard-stop", help="Pause the workstation when it is spent")
    ] = False,
) -> None:
    """Set (or change) your monthly budget."""
    body = {"monthly_limit_usd": amount, "hard_stop": hard_stop}
    typer.echo(describe_budget(_ctx(ctx).call("PUT", "/me/budget", json=body)))


@budget.command("show")
def budget_show(ctx: typer.Context) -> None:
    """Your budget and what it covers so far this period."""
    typer.echo(describe_budget(_ctx(ctx).call("GET", "/me/budget")))


@budget.command("clear")
def budget_clear(ctx: typer.Context) -> None:
    """Remove your budget (what it paused is woken)."""
    state: Context = _ctx(ctx)
    state.call("DELETE", "/me/budget")
    typer.echo("Budget cleared.")


def register(main: typer.Typer) -> None:
    """Add ``plans``, ``subscribe``, ``usage``, ``budget ...`` and ``billing``."""
    main.command("plans")(plans)
    main.command("subscribe")(subscribe)
    main.command("usage")(usage)
    main.add_typer(budget, name="budget")
    main.command("billing")(billing)
