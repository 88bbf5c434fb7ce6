"""`onemap grade`: re-grade everything; `grade override|revoke|history` for manual grades."""

from __future__ import annotations

import datetime as dt
import getpass

import typer
from rich.table import Table

from geodata.db import connect
from layers.grading import GRADE_ZH, GradingReport, regrade
from layers.overrides import OverrideError, history, revoke_override, set_override
from service.cli import app, console

grade_app = typer.Typer(help="Grade the risk units (red / orange / yellow / blue) and manage manual grades.",
                        invoke_without_command=True)
app.add_typer(grade_app, name="grade")

_STYLE = {"red": "bold red", "orange": "dark_orange", "yellow": "yellow", "blue": "blue"}


def _label(grade: str | None) -> str:
    if not grade:
        return "—"
    return f"[{_STYLE[grade]}]{GRADE_ZH[grade]} {grade}[/]"


def print_report(report: GradingReport, changes_shown: int = 20) -> None:
    """The distribution by grade and district, and what this run changed."""
    total = sum(report.by_grade.values())
    dist = ", ".join(f"{_label(g)} {report.by_grade.get(g, 0):,}" for g in ("red", "orange", "yellow", "blue"))
    console.print(f"graded {report.units:,} risk units and {report.points:,} monitoring points "
                  f"in {report.seconds:.2f} s (run {report.run_id})")
    console.print(f"by grade: {dist}" + (f", ungraded {report.by_grade['ungraded']:,}"
                                         if "ungraded" in report.by_grade else "") + f" (of {total:,})")
    table = Table(title="by district", show_edge=False)
    for col in ("district", "red 红", "orange 橙", "yellow 黄", "blue 蓝", "total"):
        table.add_column(col, justify="left" if col == "district" else "right")
    for d in report.by_district:
        table.add_row(f"{d['name']} {d['code']}", *(f"{d[k]:,}" for k in ("red", "orange", "yellow", "blue", "total")))
    console.print(table)
    if report.changed == 0:
        console.print("no grade changed since the last run")
        return
    console.print(f"{report.changed:,} grade{'s' if report.changed != 1 else ''} changed since the last run"
                  + (f"; {report.points_changed:,} monitoring points changed grade" if report.points_changed else ""))
    for c in report.changes[:changes_shown]:
        console.print(f"  {c['code']} {c['name']}: {_label(c['from'])} → {_label(c['to'])}  {c['why']}")
    if report.changed > changes_shown:
        console.print(f"  … and {report.changed - changes_shown:,} more (`onemap grade history UNIT`)")


@grade_app.callback()
def grade(ctx: typer.Context) -> None:
    """Re-grade every risk unit and monitoring point (when no sub-command is given)."""
    if ctx.invoked_subcommand is not None:
        return
    with connect() as conn:
        report = regrade(conn, requested_by=f"cli:{getpass.getuser()}")
    print_report(report)


def _expiry(days: int | None, until: dt.datetime | None) -> dt.datetime | None:
    if days is not None and until is not None:
        raise typer.BadParameter("give --days or --until, not both")
    if days is not None:
        if days <= 0:
            raise typer.BadParameter("--days must be positive")
        return dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    if until is not None:
        return until if until.tzinfo else until.astimezone()
    return None


@grade_app.command("override")
def override_command(
    unit: str = typer.Argument(..., help="Risk unit code (or id)."),
    grade: str = typer.Option(..., "--grade", help="red, orange, yellow or blue."),
    reason: str = typer.Option(..., "--reason", help="Why (kept in the audit history)."),
    by: str = typer.Option(..., "--by", help="Who sets it."),
    days: int = typer.Option(None, "--days", help="Expires after this many days."),
    until: dt.datetime = typer.Option(None, "--until", help="Expires at this time."),
) -> None:
    """Set a unit's grade by hand: it wins over every rule until it expires or is revoked."""
    with connect() as conn:
        try:
            result = set_override(conn, unit, grade, reason, by, _expiry(days, until))
        except OverrideError as exc:
            raise typer.BadParameter(str(exc)) from exc
    expiry = f", until {result.expires_at:%Y-%m-%d %H:%M}" if result.expires_at else ", no expiry"
    console.print(f"{result.code} {result.name}: set to {_label(result.grade)} by {by}{expiry} "
                  f"(was {_label(result.previous)})")


@grade_app.command("revoke")
def revoke_command(
    unit: str = typer.Argument(..., help="Risk unit code (or id)."),
    by: str = typer.Option(..., "--by", help="Who revokes it."),
) -> None:
    """Revoke a unit's manual grade: the rules grade it again."""
    with connect() as conn:
        try:
            result = revoke_override(conn, unit, by)
        except OverrideError as exc:
            raise typer.BadParameter(str(exc)) from exc
    console.print(f"{result.code} {result.name}: manual grade revoked by {by}; now {_label(result.grade)} "
                  f"(was {_label(result.previous)})")


@grade_app.command("history")
def history_command(unit: str = typer.Argument(..., help="Risk unit code (or id).")) -> None:
    """Every grade a unit has had, with when and why."""
    with connect() as conn:
        try:
            rows = history(conn, unit)
        except OverrideError as exc:
            raise typer.BadParameter(str(exc)) from exc
    table = Table(show_edge=False)
    for col in ("when", "from", "to", "source", "why"):
        table.add_column(col)
    for r in rows:
        table.add_row(f"{r['changed_at']:%Y-%m-%d %H:%M}", _label(r["grade_from"]), _label(r["grade_to"]),
                      r["source"], r["why"] or "")
    console.print(table)
