"""`onemap simulate`: realistic readings of every monitoring point, sent to the service's
`POST /readings` at a steady rate, so that readings → alarms → map can be watched.

The values come from `geodata.readings.simulator` (daily cycles, noise, faults, incidents
that cross the thresholds the service reads from `GET /alarms/rules`). Everything goes
through the HTTP API, as a gateway's would: points and rules are read from it, readings
are posted with an operator token, and a batch that got no answer is sent again (the API
counts a repeated reading as a duplicate, never stores it twice).
"""

from __future__ import annotations

import datetime as dt
import math
import signal
import time
from dataclasses import dataclass, field

import httpx
import numpy as np
import orjson
import typer
from rich.live import Live
from rich.text import Text

from geodata.readings.simulator import (
    MODELS,
    CitySimulator,
    bands_from_rules,
    physical_ranges,
)
from service.cli import app, console, err_console

ENV_TOKEN = "ONEMAP_TOKEN"
MAX_BATCH = 10_000          # rows the service takes in one request
PAGE = 10_000               # the features API's largest page
RETRY_STATUSES = (502, 503, 504)   # the service or its database is down for a while
BACKOFF_S = (0.5, 1, 2, 4, 8)      # then every 10 s
EXIT_UNREACHABLE, EXIT_USAGE, EXIT_AUTH = 1, 2, 3
PLAIN_PROGRESS_S = 10.0     # without a terminal, a progress line this often
MAKE_TOKEN = "onemap token create --role operator --name simulator"
THRESHOLD_PROPERTIES = ("threshold_blue", "threshold_yellow", "threshold_orange",
                        "threshold_red")


class Failed(Exception):
    """The simulation cannot go on: a message for people and the exit code."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


@dataclass
class Points:
    codes: list[str]
    kinds: list[str]
    thresholds: np.ndarray   # (n, 4) each point's own blue … red, NaN: the kind's


@dataclass
class Tally:
    """What the service answered, added up over the run."""

    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    out_of_range: int = 0
    other_rejected: int = 0
    first_other: str = ""
    requests: int = 0
    retries: int = 0
    opened: int = 0
    escalated: int = 0
    closed: int = 0
    undelivered: int = 0
    waiting: str = ""        # why the current batch waits, shown on the progress line
    covered: set = field(default_factory=set)

    def add(self, rows: int, answer: dict) -> None:
        self.sent += rows
        self.requests += 1
        self.accepted += answer.get("accepted", 0)
        self.duplicates += answer.get("duplicates", 0)
        for rejection in answer.get("rejected", []):
            if "physical range" in rejection.get("reason", ""):
                self.out_of_range += 1
            else:
                self.other_rejected += 1
                self.first_other = self.first_other or rejection.get("reason", "")
        alarms = answer.get("alarms") or {}
        self.opened += alarms.get("opened", 0)
        self.escalated += alarms.get("escalated", 0)
        self.closed += alarms.get("closed", 0)


class Service:
    """The one-map service over HTTP, with the caller's token."""

    def __init__(self, url: str, token: str, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=timeout,
                                 headers={"Authorization": f"Bearer {token}"})

    def get(self, path: str, params: dict | None = None) -> dict:
        try:
            answer = self.http.get(path, params=params)
        except httpx.TransportError as exc:
            raise Failed(f"cannot reach the service at {self.url} ({exc or type(exc).__name__}); "
                         "is `onemap serve` running there? (--url names another)",
                         EXIT_UNREACHABLE) from None
        if answer.status_code != 200:
            raise Failed(f"GET {path} answered {answer.status_code}: {_description(answer)}",
                         EXIT_UNREACHABLE)
        return answer.json()

    def post_readings(self, body: bytes) -> httpx.Response:
        return self.http.post("/readings", content=body,
                              headers={"Content-Type": "application/json"})

    def check_token(self) -> None:
        """An empty batch: stores nothing, but the service checks the token's role."""
        try:
            answer = self.post_readings(b"[]")
        except httpx.TransportError as exc:
            raise Failed(f"cannot reach the service at {self.url} ({exc})",
                         EXIT_UNREACHABLE) from None
        if answer.status_code in (401, 403):
            raise Failed(f"the service refused the token ({answer.status_code}): "
                         f"{_description(answer)}; make an operator token with `{MAKE_TOKEN}`",
                         EXIT_AUTH)
        if answer.status_code != 200:
            raise Failed(f"POST /readings answered {answer.status_code}: {_description(answer)}",
                         EXIT_UNREACHABLE)

    def points(self) -> Points:
        """Every monitoring point's code, kind and own thresholds, page by page."""
        codes, kinds, own = [], [], []
        url: str | None = "/collections/monitoring_points/items"
        params: dict | None = {"limit": PAGE, "properties": ",".join(("code", "kind")
                                                                      + THRESHOLD_PROPERTIES)}
        while url:
            page = self.get(url, params)
            for feature in page.get("features", []):
                p = feature["properties"]
                codes.append(p["code"])
                kinds.append(p["kind"])
                own.append([math.nan if p.get(k) is None else float(p[k])
                            for k in THRESHOLD_PROPERTIES])
            nexts = [link["href"] for link in page.get("links", []) if link.get("rel") == "next"]
            url = nexts[0] if nexts and page.get("features") else None
            params = None  # the next link carries them
        return Points(codes, kinds, np.array(own, dtype=float).reshape(len(codes), 4))


def _description(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("description") or answer.text)
    except ValueError:
        return answer.text[:200] or answer.reason_phrase


def _timestamps(seconds: np.ndarray) -> list[str]:
    return [dt.datetime.fromtimestamp(s, dt.UTC).isoformat(timespec="milliseconds")
            for s in seconds.tolist()]


class Run:
    """One simulation: pacing, batches, retries, progress."""

    def __init__(self, service: Service, sim: CitySimulator, rate: float, duration: float,
                 batch: int):
        self.service, self.sim = service, sim
        self.rate, self.duration, self.batch = rate, duration, batch
        self.tally = Tally()
        self.stopping = False
        self.started = time.monotonic()
        self.total = round(rate * duration) if duration else None  # readings to schedule
        self.scheduled = 0
        self.live: Live | None = None
        self._last_plain = self.started

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def line(self) -> str:
        t = self.tally
        rate = t.sent / max(self.elapsed(), 1e-9)
        text = (f"sent {t.sent:,} · accepted {t.accepted:,} · rejected "
                f"{t.out_of_range + t.other_rejected:,} · requests {t.requests:,} · alarms "
                f"{t.opened:,} opened, {t.escalated:,} raised, {t.closed:,} closed · "
                f"{rate:,.0f}/s")
        return text + (f" · {t.waiting}" if t.waiting else "")

    def show(self) -> None:
        if self.live is not None:
            self.live.update(Text(self.line()))
        elif time.monotonic() - self._last_plain >= PLAIN_PROGRESS_S:
            self._last_plain = time.monotonic()
            console.print(self.line(), highlight=False, soft_wrap=True)

    def wait_until(self, moment: float) -> None:
        """Sleep until `moment` (monotonic) in short steps, so that Ctrl-C is seen soon."""
        while not self.stopping and (left := moment - time.monotonic()) > 0:
            time.sleep(min(left, 0.25))
            self.show()

    def loop(self) -> None:
        previous = time.time()
        while not self.stopping:
            size = (self.batch if self.total is None
                    else min(self.batch, self.total - self.scheduled))
            if size <= 0:
                break
            self.scheduled += size
            self.wait_until(self.started + self.scheduled / self.rate)  # its last reading due
            if self.stopping:
                break
            now = time.time()
            # readings spread evenly since the last batch: real times, never ahead
            seconds = previous + (now - previous) * np.arange(1, size + 1) / size
            previous = now
            points = self.sim.next_points(size)
            values = self.sim.sample(points, seconds)
            keep = ~np.isnan(values)  # NaN: the point is silent
            codes = [self.sim.codes[i] for i in points[keep].tolist()]
            rows = [{"point": c, "ts": ts, "value": v}
                    for c, ts, v in zip(codes, _timestamps(seconds[keep]), values[keep].tolist())]
            if rows and self.send(orjson.dumps(rows), len(rows)):
                self.tally.covered.update(points[keep].tolist())
            self.show()

    def send(self, body: bytes, rows: int) -> bool:
        """Post one batch until the service takes it; False when given up."""
        give_up = self.started + self.duration + 30 if self.duration else math.inf
        attempt = 0
        while True:
            try:
                answer = self.service.post_readings(body)
                trouble = (f"the service answered {answer.status_code}"
                           if answer.status_code in RETRY_STATUSES else "")
            except httpx.TransportError as exc:
                answer, trouble = None, f"no answer ({type(exc).__name__})"
            if answer is not None and not trouble:
                break
            if self.stopping or time.monotonic() >= give_up:
                self.tally.undelivered += rows
                self.tally.waiting = ""
                return False
            pause = BACKOFF_S[attempt] if attempt < len(BACKOFF_S) else 10.0
            attempt += 1
            self.tally.retries += 1
            self.tally.waiting = f"{trouble}: sending again in {pause:g} s"
            self.show()
            self.wait_until(time.monotonic() + pause)
        self.tally.waiting = ""
        if answer.status_code in (401, 403):
            raise Failed(f"the service refused the token ({answer.status_code}): "
                         f"{_description(answer)}", EXIT_AUTH)
        if answer.status_code != 200:
            raise Failed(f"POST /readings answered {answer.status_code}: "
                         f"{_description(answer)}", EXIT_UNREACHABLE)
        self.tally.add(rows, answer.json())
        return True


def _count(n: int, thing: str) -> str:
    return f"{n:,} {thing}" + ("" if n == 1 else "s")


def summary(run: Run) -> list[str]:
    """The run in plain words, one sentence a line."""
    t, stats, seconds = run.tally, run.sim.stats, run.elapsed()
    rejected = [f"{t.out_of_range:,} rejected as faults (outside the physical range)"]
    if t.other_rejected:
        rejected.append(f"{t.other_rejected:,} rejected for other reasons (first: {t.first_other})")
    if t.duplicates:
        rejected.append(f"{t.duplicates:,} duplicates (sent again after no answer)")
    lines = [f"sent {t.sent:,} readings in {seconds:,.0f} s ({t.sent / max(seconds, 1e-9):,.0f}/s)"
             f": {t.accepted:,} accepted, " + ", ".join(rejected)
             + f"; alarms: {t.opened:,} opened, {t.escalated:,} raised, {t.closed:,} closed"]
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(stats.incidents.items()))
    lines.append(f"simulated: {_count(sum(stats.incidents.values()), 'incident')}"
                 + (f" ({kinds})" if kinds else "")
                 + f", {_count(stats.spikes, 'spike')} outside the physical range, "
                 f"{_count(stats.stuck, 'stuck sensor')}, {_count(stats.silent, 'point')} gone "
                 f"silent for a while ({_count(stats.withheld, 'reading')} not sent)")
    every = len(run.sim) / run.rate
    lines.append(f"points that reported: {len(t.covered):,} of {len(run.sim):,} "
                 f"(each reports every {every:,.1f} s at {run.rate:,g}/s); "
                 f"{t.requests:,} requests, {t.retries:,} sent again")
    if t.undelivered:
        lines.append(f"{t.undelivered:,} readings not delivered: the service stayed unavailable")
    lines.append(f"open alarms: {run.service.url}/alarms?state=open")
    return lines


@app.command()
def simulate(
    rate: float = typer.Option(1000.0, "--rate", help="Readings per second across all points."),
    duration: float = typer.Option(0.0, "--duration", help="Seconds to run; 0: until Ctrl-C."),
    url: str = typer.Option("http://127.0.0.1:8000", "--url", help="The service."),
    token: str = typer.Option("", "--token", envvar=ENV_TOKEN, show_default=False,
                              help="An operator (or admin) token."),
    batch: int = typer.Option(0, "--batch", help="Rows per request (default: one request a "
                                                 f"second, at most {MAX_BATCH:,})."),
    seed: int = typer.Option(0, "--seed", help="Seed of the simulated world (same seed, same "
                                               "values at the same times)."),
    incidents: float = typer.Option(240.0, "--incidents",
                                    help="Incidents per hour across the city."),
) -> None:
    """Send realistic readings of every monitoring point to POST /readings (daily cycles,
    noise, sensor faults, incidents that cross the alarm thresholds).

    Exit codes: 0 done or stopped with Ctrl-C; 1 service unreachable; 2 no token; 3 token refused.
    """
    if not token.strip():
        err_console.print(f"[red]error:[/red] no token: pass --token or set {ENV_TOKEN}; make "
                          f"an operator token with `{MAKE_TOKEN}`", soft_wrap=True)
        raise typer.Exit(EXIT_USAGE)
    if not rate > 0 or duration < 0 or incidents < 0 or not 0 <= batch <= MAX_BATCH:
        err_console.print(f"[red]error:[/red] --rate must be above 0, --duration and "
                          f"--incidents 0 or more, --batch 1 to {MAX_BATCH:,}", soft_wrap=True)
        raise typer.Exit(EXIT_USAGE)
    service = Service(url, token.strip())
    try:
        rules = service.get("/alarms/rules")
        service.check_token()
        points = service.points()
        bands, ranges = bands_from_rules(rules), physical_ranges()
        known = [k in MODELS and k in bands and k in ranges for k in points.kinds]
        left_out = sorted({k for k, ok in zip(points.kinds, known) if not ok})
        if left_out:
            console.print(f"not simulated: {known.count(False):,} points of kind(s) "
                          f"{', '.join(left_out)} (no model, alarm rules or physical range)")
            points = Points([c for c, ok in zip(points.codes, known) if ok],
                            [k for k, ok in zip(points.kinds, known) if ok],
                            points.thresholds[np.array(known)])
        if not points.codes:
            raise Failed("the service has no monitoring points to simulate: load them "
                         "(`onemap seed`, `onemap import … --layer monitoring_points`)",
                         EXIT_UNREACHABLE)
        sim = CitySimulator(points.codes, points.kinds, points.thresholds, bands, ranges,
                            seed=seed, incidents_per_hour=incidents)
    except Failed as exc:
        err_console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(exc.code) from None
    size = batch or max(1, min(MAX_BATCH, round(rate)))
    console.print(f"simulating {len(sim):,} points at {rate:,g} readings/s "
                  f"({size:,} a request) to {service.url}"
                  + (f" for {duration:g} s" if duration else " until Ctrl-C"),
                  highlight=False, soft_wrap=True)
    run = Run(service, sim, rate, duration, size)
    code = _run(run)
    for line in summary(run):
        console.print(line, highlight=False, soft_wrap=True)
    if code:
        raise typer.Exit(code)


def _run(run: Run) -> int:
    """Run until done or Ctrl-C (the batch in flight is finished first); the exit code."""
    def stop(signum, frame):
        if run.stopping:
            raise KeyboardInterrupt
        run.stopping = True

    try:
        previous = signal.signal(signal.SIGINT, stop)
    except ValueError:  # not the main thread: Ctrl-C stops at once
        previous = None
    try:
        if console.is_terminal and not console.quiet:
            with Live(Text(run.line()), console=console, refresh_per_second=4) as run.live:
                run.loop()
            run.live = None
        else:
            run.loop()
        return 0
    except Failed as exc:
        run.live = None
        err_console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        return exc.code
    except KeyboardInterrupt:
        return 0
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        run.service.http.close()
