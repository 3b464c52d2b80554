"""`exchange bench scale`: the scale-out tax, i.e. what more processes cost per order, and how long
order flow stops while workers come and go.

One fresh Kafka and Cassandra (api_stack.Servers), warmed up by an unreported run of the whole
exchange, serve every layout. A layout WxA is W worker processes (`exchange worker`), A API
processes (`exchange api`, each on a port of its own) and one recorder (`exchange recorder`),
each with a state directory of its own (restoring its tables from the changelogs, as a process
on a new machine would). For each layout, in each round:

1. start the processes; wait until all are ready, every consumer group is stable with all of its
   partitions assigned (the workers', the recorder's, the APIs' reply group), and caught up;
2. **idle**: the CPU of every process (and of Kafka and Cassandra) over `--idle-seconds` with no
   traffic, as % of a core;
3. **steady load**: an open-loop load of `--rate` requests/s (sent on a schedule whatever the
   answers; latency counts from the scheduled send time), spread evenly over the A APIs, for
   `--seconds`. The order flow is order_load.py's (limit orders of 0.1 at 99.90-100.10, buy or
   sell at random, so a good share cross; one request in twenty a cancel-all), but over one
   market per partition (pipeline.bench_markets: assets of their own, deposited for every
   trader), so that every worker gets matching work. CPU per order ABOVE idle for each kind of
   process = (CPU during the load - idle rate x duration) / orders placed;
4. **churn** (layouts with W >= 2 only, after the steady window, at the same rate): one more
   worker joins, then one worker stops with SIGTERM, then one is killed with SIGKILL; after each
   the load goes on until the workers' group is settled again and `--churn-seconds` more. The
   pause of each event is the longest gap, over any partition, overlapping the event's window,
   of (a) records on exchange.order-updates (Kafka timestamps; the matching side, one market per
   partition) and (b) 201 answers to accounts of one exchange.commands partition (the accounts
   side, as the clients see it). The steady window reports the same gaps as a baseline.

The churn is kept out of the steady window so that a joining worker's restore does not count as
CPU per order. `--rounds N` repeats everything; the summary is a table of medians and the ratios
of the targets (largest layout / smallest layout), each with PASS or MISS. The exit code does
not depend on the targets.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from api.feeds import REPLY_GROUP
from exchange import kafka_io
from exchange.commands import CommandProducer, deposit
from infra.local import runner
from infra.local.ports import free_port
from schemas.topics import COMMANDS, ORDER_UPDATES, ORDERS, REPLIES, SETTLEMENTS, account_partition
from streams.read_worker import READ_APP_ID
from streams.recorder_stage import RECORDED

from .api_stack import ROOT, Servers
from .load import Connection, cpu_sample
from .pipeline import APP_GROUP, define, wait_caught_up

DEFAULT_RATE = 60.0  # requests/s: see docs/benchmarks.md#scale-out for why this low
CONNECTIONS_PER_API = 32  # traders (one keep-alive connection each) per API process
CANCEL_ALL_EVERY = 20
FUNDS = 1_000_000  # units of each of its market's assets deposited for every trader
BASE_DECIMALS, QUOTE_DECIMALS = 8, 6  # pipeline.bench_markets' assets
KINDS = ("worker", "api", "recorder", "kafka", "cassandra")
EVENTS = ("join", "sigterm", "sigkill")
SETTLE_TIMEOUT = 60.0  # seconds: the longest a churn event may take to settle before the next
IDLE_ATTEMPTS = 4  # idle windows tried per layout when a worker crashes during one
MAX_CRASHES = 15  # per layout; a worker crashed before the load is started again, up to this many times
TARGET_TOTAL_RATIO = 1.15
TARGET_API_RATIO = 1.10
TARGET_IDLE_PCT = 2.0
TARGET_PAUSE_S = 5.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="exchange bench scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="requests/s offered (open loop)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each steady load window")
    parser.add_argument("--rounds", type=int, default=1, help="runs of every layout (medians are reported)")
    parser.add_argument("--layouts", default="1x1,2x2,4x4", help="WORKERSxAPIS, comma-separated")
    parser.add_argument("--idle-seconds", type=float, default=10.0, help="idle CPU window")
    parser.add_argument("--churn-seconds", type=float, default=5.0,
                        help="load after each worker join/stop/kill once the group settled (negative: no churn)")
    parser.add_argument("--warm-up", type=float, default=30.0, help="seconds of unreported load warming the servers")
    parser.add_argument("--connections", type=int, default=CONNECTIONS_PER_API, help="traders per API process")
    args = parser.parse_args(argv)
    try:
        layouts: list[tuple[int, int]] = []
        for item in args.layouts.split(","):
            workers, apis = (int(n) for n in item.lower().split("x"))
            if min(workers, apis) < 1:
                raise ValueError
            layouts.append((workers, apis))
    except ValueError:
        raise SystemExit(f"--layouts: expected e.g. 1x1,2x2,4x4, got {args.layouts}") from None
    # A SIGTERM stops the benchmark as Ctrl-C does: every process it started is stopped on the way out.
    signal.signal(signal.SIGTERM, _interrupt)
    return asyncio.run(_run(args, layouts))


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


# ---------------------------------------------------------------------------------------------
# The processes of one layout


@dataclass
class Proc:
    name: str
    kind: str
    popen: subprocess.Popen
    state: Path
    port: int | None = None
    args: list[str] = field(default_factory=list)
    stopped_on_purpose: bool = False
    crashed: bool = False  # died on its own (noted in Layout.crashes)

    @property
    def log(self) -> Path:
        return self.state / "process.log"


class Layout:
    """W workers, A APIs and one recorder on `servers`, each with a state directory of its own."""

    def __init__(self, servers: Servers, workers: int, apis: int) -> None:
        self.servers, self.settings = servers, servers.settings
        self.workers, self.apis = workers, apis
        self.state = Path(tempfile.mkdtemp(prefix=f"layout-{workers}x{apis}-", dir=servers.state))
        self.env = os.environ | self.settings.to_env() | {"PYTHONPATH": str(ROOT), "JWT_TTL_SECONDS": "86400"}
        self.procs: dict[str, Proc] = {}
        self.worker_count = 0
        self.crashes: list[str] = []  # "name: exit code, reason", for every process that died on its own
        self.stage = "start"  # named in `crashes`

    async def __aenter__(self) -> "Layout":
        try:
            for _ in range(self.workers):
                self.add_worker()
            self._start("recorder", "recorder", ["recorder", "--name", "scale", "--loglevel", "info"])
            for i in range(self.apis):
                port = free_port()
                self._start(f"api-{i + 1}", "api", ["api", "--port", str(port)], port)
        except BaseException:
            self.stop()
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        self.stop()  # blocking on purpose: it runs on Ctrl-C too, when the loop is going away

    def add_worker(self) -> Proc:
        self.worker_count += 1
        name = f"worker-{self.worker_count}"
        return self._start(name, "worker", ["worker", "--name", name, "--loglevel", "info"])

    def _start(self, name: str, kind: str, args: list[str], port: int | None = None) -> Proc:
        state = self.state / name
        state.mkdir(exist_ok=True)  # a process started again after a crash keeps its state and log
        env = self.env | {"EXCHANGE_STATE_DIR": str(state), **({"API_PORT": str(port)} if port else {})}
        with open(state / "process.log", "ab") as log:
            popen = subprocess.Popen([sys.executable, "-m", "exchange.cli", *args], env=env, cwd=ROOT,
                                     stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = Proc(name, kind, popen, state, port, args)
        return self.procs[name]

    def signal_worker(self, proc: Proc, signum: int) -> None:
        proc.stopped_on_purpose = True
        proc.popen.send_signal(signum)

    def note_crashes(self) -> list[Proc]:
        """Processes that died without being told to, noted once each in `crashes`."""
        dead = []
        for proc in self.procs.values():
            code = proc.popen.poll()
            if code is not None and not proc.stopped_on_purpose and not proc.crashed:
                reason = "MaxRestartsExceeded (agent actors cancelled at a rebalance)" \
                    if "Max restarts exceeded" in proc.log.read_text(errors="replace") else f"see {proc.log}"
                self.crashes.append(f"{proc.name} exit {code} during the {self.stage}: {reason}")
                proc.crashed = True
                dead.append(proc)
        return dead

    def stop(self) -> None:
        live = [p for p in self.procs.values() if p.popen.poll() is None]
        for proc in live:
            proc.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 60
        for proc in live:
            try:
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()

    def running(self, kind: str | None = None) -> list[Proc]:
        return [p for p in self.procs.values() if p.popen.poll() is None and kind in (None, p.kind)]

    @property
    def api_ports(self) -> list[int]:
        return [p.port for p in self.procs.values() if p.kind == "api" and p.port]

    def pids(self) -> dict[str, int]:
        """Every watched process: ours by name, the servers by node name, and this load client."""
        servers = {node.name: node.process.pid() for node in runner.nodes(self.settings)}
        return ({p.name: p.popen.pid for p in self.running()} | {"load client": os.getpid()}
                | {name: pid for name, pid in servers.items() if pid is not None})

    def check_alive(self) -> None:
        """A crashed worker is started again (same name, state directory and log), three times at
        most per layout; any other crash ends the benchmark."""
        self.note_crashes()
        for proc in [p for p in self.procs.values() if p.crashed]:
            if proc.kind != "worker" or len(self.crashes) > MAX_CRASHES:
                raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}); see {proc.log}")
            self._start(proc.name, proc.kind, proc.args)  # replaces the entry

    async def ready(self, timeout: float = 300.0) -> float:
        """Seconds until every process is ready and every group settled and caught up."""
        from exchange.up import worker_ready

        started = time.monotonic()
        deadline = started + timeout
        async with httpx.AsyncClient(timeout=5) as http:
            while True:
                self.check_alive()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the {self.workers}x{self.apis} layout did not start; logs under {self.state}")
                if all(worker_ready(p.log) for p in self.running() if p.kind != "api") and \
                        await self._apis_ready(http) and await self._groups_settled():
                    break
                await asyncio.sleep(0.5)
        remaining = max(10.0, deadline - time.monotonic())
        await wait_caught_up(self.settings, remaining)
        await wait_caught_up(self.settings, remaining, READ_APP_ID, tuple(topic.name for topic in RECORDED))
        return time.monotonic() - started

    async def _apis_ready(self, http: httpx.AsyncClient) -> bool:
        owned = 0
        for port in self.api_ports:
            try:
                if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code != 200:
                    return False
                text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            except httpx.HTTPError:
                return False
            count = next((float(line.split()[1]) for line in text.splitlines()
                          if line.startswith("exchange_api_reply_partitions ")), 0.0)
            if count < 1:
                return False
            owned += int(count)
        return owned == REPLIES.partitions(self.settings.partitions)

    async def workers_settled(self) -> bool:
        """Whether the workers' group is stable with exactly the live workers, all input partitions
        assigned, and every live worker past its restore (its log says Ready)."""
        from exchange.up import worker_ready

        workers = self.running("worker")
        wanted = {(t, p) for t in (COMMANDS.name, ORDERS.name, SETTLEMENTS.name)
                  for p in range(self.settings.partitions)}
        state, assigned = (await describe_groups(self.settings.kafka_bootstrap, [APP_GROUP])).get(APP_GROUP, ("", []))
        return (state == "Stable" and len(assigned) == len(workers) and wanted <= set().union(*assigned)
                and all(worker_ready(p.log) for p in workers))

    async def _groups_settled(self) -> bool:
        """Whether the workers', the recorder's and the APIs' groups are stable with every member
        of this layout in them and every input partition assigned."""
        partitions = range(self.settings.partitions)
        wanted = {
            APP_GROUP: (len(self.running("worker")),
                        {(t, p) for t in (COMMANDS.name, ORDERS.name, SETTLEMENTS.name) for p in partitions}),
            READ_APP_ID: (1, {(t.name, p) for t in RECORDED for p in partitions}),
            REPLY_GROUP: (len(self.running("api")),
                          {(REPLIES.name, p) for p in range(REPLIES.partitions(self.settings.partitions))}),
        }
        described = await describe_groups(self.settings.kafka_bootstrap, list(wanted))
        for group, (members, topic_partitions) in wanted.items():
            state, assigned = described.get(group, ("", []))
            if state != "Stable" or len(assigned) != members or \
                    not topic_partitions <= set().union(*assigned):
                return False
        return True


async def describe_groups(bootstrap: str, groups: list[str]) -> dict[str, tuple[str, list[set]]]:
    """Each group's state and its members' assigned (topic, partition)s."""
    def assigned(member: dict) -> set:
        if not member["member_assignment"]:
            return set()
        decoded = ConsumerProtocolMemberAssignment.decode(member["member_assignment"])
        return {(tp.topic, tp.partition) for tp in decoded.partitions()}

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {described["group"]: (described["state"], [assigned(m) for m in described["members"]])
                for described in await kafka_io.describe_groups(admin, groups)}
    finally:
        await admin.close()


# ---------------------------------------------------------------------------------------------
# The load: traders, the open-loop schedule, and what came back


@dataclass
class Trader:
    token: str
    account: str
    market: str
    partition: int  # of the account, on account-keyed topics (exchange.commands)


@dataclass
class Answer:
    scheduled: float  # monotonic
    done_wall: float  # time.time()
    latency: float  # seconds from the scheduled send
    status: int
    placement: bool
    crossed: bool
    partition: int


@dataclass
class LoadOutcome:
    answers: list[Answer] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def placements(self) -> list[Answer]:
        return [a for a in self.answers if a.placement]

    def latency_ms(self, quantile: float) -> float:
        ordered = sorted(a.latency for a in self.placements)
        return ordered[min(len(ordered) - 1, int(len(ordered) * quantile))] * 1000 if ordered else float("nan")

    def statuses(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for answer in self.answers:
            counts[answer.status] = counts.get(answer.status, 0) + 1
        return dict(sorted(counts.items()))


async def open_loop(ports: list[int], traders: list[list[Trader]], rate: float, seconds: float,
                    seed: int, until: asyncio.Event | None = None) -> LoadOutcome:
    """Requests at `rate` per second for `seconds` (or until `until` is set), request i to API i mod A,
    whatever the answers: each API's traders take the scheduled requests in turn, one at a time per
    trader; a request waiting for a free trader waits in its latency."""
    outcome = LoadOutcome()
    queues: list[asyncio.Queue] = [asyncio.Queue() for _ in ports]

    async def trader_loop(port: int, queue: asyncio.Queue, trader: Trader, index: int) -> None:
        rng = random.Random(seed * 100_000 + index)
        connection = Connection("127.0.0.1", port)
        headers = {"Authorization": f"Bearer {trader.token}"}
        cancel_all = f"/api/v1/orders?market={trader.market}"
        try:
            while (slot := await queue.get()) is not None:
                scheduled, is_cancel = slot
                if is_cancel:
                    method, path, body = "DELETE", cancel_all, b""
                else:
                    cents = rng.randint(9990, 10010)
                    method, path = "POST", "/api/v1/orders"
                    body = orjson.dumps({"market": trader.market, "side": rng.choice(("buy", "sell")),
                                         "price": f"{cents // 100}.{cents % 100:02d}", "quantity": "0.1"})
                try:
                    status, payload = await connection.request(method, path, body, headers)
                except (OSError, ConnectionError, asyncio.IncompleteReadError):
                    await connection.close()
                    status, payload = 0, b""
                crossed = False
                if status == 201 and not is_cancel:
                    crossed = float(orjson.loads(payload).get("filled_quantity") or 0) > 0
                outcome.answers.append(Answer(scheduled, time.time(), time.monotonic() - scheduled, status,
                                              not is_cancel, crossed, trader.partition))
        finally:
            await connection.close()

    tasks = [asyncio.create_task(trader_loop(port, queue, trader, a * 1000 + i))
             for a, (port, queue) in enumerate(zip(ports, queues)) for i, trader in enumerate(traders[a])]
    rng = random.Random(seed)
    started = time.monotonic()
    try:
        i = 0
        while (at := started + i / rate) < started + seconds and not (until and until.is_set()):
            delay = at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            queues[i % len(ports)].put_nowait((at, rng.randrange(CANCEL_ALL_EVERY) == 0))
            i += 1
        for a, queue in enumerate(queues):
            for _ in traders[a]:
                queue.put_nowait(None)
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
    outcome.elapsed = time.monotonic() - started
    return outcome


class UpdateWatch:
    """Kafka timestamps (ms) of the records on every exchange.order-updates partition, from now on."""

    def __init__(self, bootstrap: str, partitions: int) -> None:
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.tps = [TopicPartition(ORDER_UPDATES.name, p) for p in range(partitions)]
        self.stamps: dict[int, list[float]] = {p: [] for p in range(partitions)}
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> "UpdateWatch":
        await self.consumer.start()
        self.consumer.assign(self.tps)
        await self.consumer.seek_to_end(*self.tps)
        for tp in self.tps:
            await self.consumer.position(tp)
        self.task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        while True:
            for tp, records in (await self.consumer.getmany(timeout_ms=200)).items():
                self.stamps[tp.partition].extend(r.timestamp / 1000 for r in records)

    async def __aexit__(self, *exc) -> None:
        if self.task is not None:
            self.task.cancel()
        await self.consumer.stop()


def longest_gap(series: dict[int, list[float]], start: float, end: float) -> float:
    """The longest time without an event on any one series that overlaps [start, end]: gaps between
    consecutive events, and from the last one to `end` (a gap not closed yet). Wall-clock seconds."""
    longest = 0.0
    for stamps in series.values():
        ordered = sorted(stamps)
        before = [t for t in ordered if t <= start]
        points = ([before[-1]] if before else [start]) + [t for t in ordered if start < t <= end] + [end]
        longest = max(longest, *(b - a for a, b in zip(points, points[1:])))
    return longest


def answers_by_partition(answers: list[Answer]) -> dict[int, list[float]]:
    series: dict[int, list[float]] = {}
    for answer in answers:
        if answer.status == 201:
            series.setdefault(answer.partition, []).append(answer.done_wall)
    return series


# ---------------------------------------------------------------------------------------------
# One layout, measured


@dataclass
class Result:
    layout: str
    round: int
    ready_s: float
    offered: float  # requests/s
    orders_per_s: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]
    crossed: float
    idle_pct: dict[str, list[float]]  # kind -> % of a core of each process
    cpu_ms: dict[str, float]  # kind -> CPU ms per order above idle (summed over its processes)
    load_client_ms: float
    steady_gap_s: tuple[float, float]  # order-updates, 201s by accounts partition
    pauses: dict[str, tuple[float, float]] = field(default_factory=dict)  # event -> the same two
    churn_statuses: dict[int, int] = field(default_factory=dict)
    crashes: list[str] = field(default_factory=list)
    live_workers: int = 0  # workers alive through the whole steady window (fewer than `workers`: crashes)
    workers: int = 0

    @property
    def total_ms(self) -> float:
        return sum(self.cpu_ms.values())

    @property
    def max_idle(self) -> float:
        return max((v for kind in ("worker", "api", "recorder") for v in self.idle_pct.get(kind, [])), default=0.0)


def kind_of(name: str) -> str:
    return name.split("-")[0] if not name.startswith("load") else "load client"


async def measure(servers: Servers, workers: int, apis: int, traders: list[Trader], args: argparse.Namespace,
                  round_: int) -> Result:
    layout_name = f"{workers}x{apis}"
    async with Layout(servers, workers, apis) as layout:
        pools = [traders[a * args.connections:(a + 1) * args.connections] for a in range(apis)]
        started = time.monotonic()
        for _ in range(IDLE_ATTEMPTS):  # a worker that crashes in the idle window spoils it: again
            layout.stage = "start"
            await layout.ready()
            await asyncio.sleep(1.0)
            pids = layout.pids()
            layout.stage = "idle window"
            before = cpu_sample(pids)
            await asyncio.sleep(args.idle_seconds)
            after = cpu_sample(pids)
            if not layout.note_crashes():
                break
        ready_s = time.monotonic() - started - args.idle_seconds - 1.0
        span = after.at - before.at
        idle_rate = {n: (after.processes[n] - before.processes[n]) / span for n in pids}
        idle_pct: dict[str, list[float]] = {}
        for name, rate in idle_rate.items():
            idle_pct.setdefault(kind_of(name), []).append(rate * 100)
        # Steady load.
        layout.stage = "steady load"
        live_at_start = len(layout.running("worker"))
        async with UpdateWatch(servers.settings.kafka_bootstrap, servers.settings.partitions) as watch:
            before = cpu_sample(pids)
            wall = time.time()
            outcome = await open_loop(layout.api_ports, pools, args.rate, args.seconds, seed=round_ * 10 + workers)
            after = cpu_sample(pids)
            steady_gap = (longest_gap(watch.stamps, wall + 1.0, wall + args.seconds),
                          longest_gap(answers_by_partition(outcome.answers), wall + 1.0, wall + args.seconds))
        span = after.at - before.at
        placements = outcome.placements
        orders = max(len(placements), 1)
        cpu: dict[str, float] = {}
        for name in pids:
            used = after.processes[name] - before.processes[name] - idle_rate[name] * span
            cpu[kind_of(name)] = cpu.get(kind_of(name), 0.0) + used * 1000 / orders
        result = Result(layout_name, round_, ready_s, args.rate, len(placements) / outcome.elapsed,
                        outcome.latency_ms(0.5), outcome.latency_ms(0.99), outcome.statuses(),
                        sum(a.crossed for a in placements) / orders, idle_pct,
                        {k: cpu.get(k, 0.0) for k in KINDS}, cpu.get("load client", 0.0), steady_gap,
                        live_workers=min(live_at_start, len(layout.running("worker"))), workers=workers)
        layout.note_crashes()
        if workers >= 2 and args.churn_seconds >= 0:
            await layout.ready()
            layout.stage = "churn"
            await churn(layout, pools, args, result)
        result.crashes = layout.crashes
    return result


async def churn(layout: Layout, pools: list[list[Trader]], args: argparse.Namespace, result: Result) -> None:
    """Load at the same rate while a worker joins, then a worker stops with SIGTERM, then a worker is
    killed with SIGKILL. After each event the load goes on until the workers' group is settled again
    (every input partition assigned to a live member; at most SETTLE_TIMEOUT) and --churn-seconds
    more. Each event's pause: the longest gap overlapping its window (event to next event)."""
    marks: dict[str, float] = {}
    done = asyncio.Event()

    def others(joined: Proc) -> list[Proc]:  # the live workers but the one that joined
        return [w for w in layout.running("worker") if w is not joined]

    async def settle() -> None:
        deadline = time.monotonic() + SETTLE_TIMEOUT
        await asyncio.sleep(1.0)
        while time.monotonic() < deadline and not await layout.workers_settled():
            layout.note_crashes()
            await asyncio.sleep(0.5)
        layout.note_crashes()
        await asyncio.sleep(args.churn_seconds)

    async def events() -> None:
        try:
            await asyncio.sleep(2.0)
            marks["join"] = time.time()
            joined = layout.add_worker()
            await settle()
            marks["sigterm"] = time.time()
            if victims := others(joined):
                layout.signal_worker(victims[-1], signal.SIGTERM)
            await settle()
            marks["sigkill"] = time.time()
            if victims := others(joined):
                layout.signal_worker(victims[0], signal.SIGKILL)
            await settle()
        finally:
            done.set()

    async with UpdateWatch(layout.settings.kafka_bootstrap, layout.settings.partitions) as watch:
        acting = asyncio.create_task(events())
        try:
            outcome = await open_loop(layout.api_ports, pools, args.rate, 3600.0, seed=result.round * 10 + 7,
                                      until=done)
            await acting
        finally:
            acting.cancel()
        ends = {"join": marks["sigterm"], "sigterm": marks["sigkill"], "sigkill": time.time()}
        by_partition = answers_by_partition(outcome.answers)
        for event in EVENTS:
            result.pauses[event] = (longest_gap(watch.stamps, marks[event], ends[event]),
                                    longest_gap(by_partition, marks[event], ends[event]))
    result.churn_statuses = outcome.statuses()


# ---------------------------------------------------------------------------------------------
# Setup, reports


async def load_markets(servers: Servers) -> dict[str, dict]:
    """One market per partition (pipeline.bench_markets: assets of their own, tick 0.01), published,
    so that every partition has matching work and every worker gets some."""
    markets = (await define(servers.settings))[0]
    return dict(sorted(markets.items(), key=lambda item: item[1]["partition"]))


async def fund(servers: Servers, traders: list[Trader], markets: dict[str, dict]) -> None:
    """Deposits of FUNDS of both assets of its market for every trader, straight onto exchange.commands."""
    commands = [deposit(t.account, asset, FUNDS * 10 ** decimals)
                for t in traders for asset, decimals in _assets(markets[t.market])]
    producer = CommandProducer(servers.settings)
    await producer.start()
    try:
        await producer.send(commands)
    finally:
        await producer.stop()


def _assets(market: dict) -> list[tuple[str, int]]:
    return [(market["base"], BASE_DECIMALS), (market["quote"], QUOTE_DECIMALS)]


async def sign_up(port: int, n: int, markets: list[str], partitions: int) -> list[Trader]:
    traders = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        for i in range(n):
            email = f"scale-{time.time_ns()}-{i}@example.com"
            made = await http.post("/api/v1/auth/signup", json={"username": f"scale{i}", "email": email,
                                                                "password": "benchmark"})
            made.raise_for_status()
            login = await http.post("/api/v1/auth/login", json={"email": email, "password": "benchmark"})
            login.raise_for_status()
            account = made.json()["account_id"]
            traders.append(Trader(login.json()["token"], account, markets[i % len(markets)],
                                  account_partition(account, partitions)))
    return traders


def describe(r: Result) -> str:
    idle = "; ".join(f"{kind} " + " ".join(f"{v:.1f}" for v in r.idle_pct.get(kind, []))
                     for kind in (*KINDS, "load client") if r.idle_pct.get(kind))
    cpu = ", ".join(f"{kind} {r.cpu_ms[kind]:.3f}" for kind in KINDS)
    lines = [f"{r.layout} (round {r.round}): ready and settled in {r.ready_s:.0f} s; {r.offered:g} requests/s offered, "
             f"{r.orders_per_s:,.0f} orders/s placed, p50 {r.p50_ms:.0f} ms, p99 {r.p99_ms:.0f} ms from the "
             f"scheduled send; {r.crossed:.0%} crossed; statuses {r.statuses}",
             *([f"  ONLY {r.live_workers} OF {r.workers} WORKERS RAN THROUGH THE STEADY LOAD (crashes below): "
                f"its figures are not those of this layout"] if r.live_workers < r.workers else []),
             f"  idle CPU, % of a core per process: {idle}",
             f"  CPU ms per order above idle: {cpu}; total {r.total_ms:.3f} "
             f"({1000 / r.total_ms:,.0f} orders/s per core); load client {r.load_client_ms:.3f}",
             f"  longest gap in the steady window: order updates {r.steady_gap_s[0]:.2f} s, "
             f"201s by accounts partition {r.steady_gap_s[1]:.2f} s"]
    if r.pauses:
        lines.append("  pauses (order updates / 201s by accounts partition): " + "; ".join(
            f"{event} {a:.1f} s / {b:.1f} s" for event, (a, b) in r.pauses.items()) +
            f"; statuses during the churn {r.churn_statuses}")
    if r.crashes:
        lines.append("  CRASHED (started again before the load only; a crash during the steady load spoils "
                     "its figures): " + "; ".join(r.crashes))
    return "\n".join(lines)


def summary(results: list[Result], layouts: list[str], rounds: int) -> str:
    def med(layout: str, value) -> float | None:
        values = [v for r in results if r.layout == layout and (v := value(r)) is not None]
        return statistics.median(values) if values else None

    rows = [("workers alive in the steady load", lambda r: r.live_workers, "{:.0f}"),
            ("orders/s placed", lambda r: r.orders_per_s, "{:,.0f}"),
            ("p50 ms", lambda r: r.p50_ms, "{:.0f}"), ("p99 ms", lambda r: r.p99_ms, "{:.0f}"),
            *((f"CPU ms/order, {k}", lambda r, k=k: r.cpu_ms[k], "{:.3f}") for k in KINDS),
            ("CPU ms/order, total", lambda r: r.total_ms, "{:.3f}"),
            ("orders/s per core", lambda r: 1000 / r.total_ms, "{:,.0f}"),
            ("CPU ms/order, load client", lambda r: r.load_client_ms, "{:.3f}"),
            *((f"idle % of a core, max {k}", lambda r, k=k: max(r.idle_pct.get(k, [0.0])), "{:.1f}")
              for k in (*KINDS, "load client")),
            ("steady gap s, order updates", lambda r: r.steady_gap_s[0], "{:.2f}"),
            ("steady gap s, 201s", lambda r: r.steady_gap_s[1], "{:.2f}"),
            *((f"pause s, {e}", lambda r, e=e: max(r.pauses[e]) if e in r.pauses else None, "{:.1f}")
              for e in EVENTS),
            ("processes crashed", lambda r: len(r.crashes), "{:.0f}")]
    width = max(len(title) for title, _, _ in rows)
    lines = [f"medians of {rounds} round(s):", "  " + "".join([" " * width, *(f"{name:>10}" for name in layouts)])]
    for title, value, form in rows:
        cells = [med(layout, value) for layout in layouts]
        if any(c is not None for c in cells):
            lines.append("  " + title.ljust(width) + "".join(f"{'-' if c is None else form.format(c):>10}"
                                                               for c in cells))
    small, large = layouts[0], layouts[-1]
    total = (med(large, lambda r: r.total_ms) or 0) / (med(small, lambda r: r.total_ms) or float("nan"))
    api = (med(large, lambda r: r.cpu_ms["api"]) or 0) / (med(small, lambda r: r.cpu_ms["api"]) or float("nan"))
    idle = max(r.max_idle for r in results)
    pauses = {e: max(max(r.pauses[e]) for r in results if e in r.pauses) for e in EVENTS
              if any(e in r.pauses for r in results)}

    def mark(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    crashed = sum(len(r.crashes) for r in results)
    if crashed:
        lines.append(f"{crashed} process crash(es) in all, listed under the layouts above")
    lines.append(f"targets ({large} against {small}):")
    lines.append(f"  total CPU per order {large} / {small}: {total:.3f} (target <= {TARGET_TOTAL_RATIO}) "
                 f"{mark(total <= TARGET_TOTAL_RATIO)}")
    lines.append(f"  API CPU per order {large} / {small}: {api:.3f} (target within 10 %) "
                 f"{mark(abs(api - 1) <= TARGET_API_RATIO - 1)}")
    lines.append(f"  max idle CPU of one exchange process: {idle:.1f} % of a core (target <= {TARGET_IDLE_PCT:g} %) "
                 f"{mark(idle <= TARGET_IDLE_PCT)}")
    if pauses:
        for event, pause in pauses.items():
            lines.append(f"  max pause, {event}: {pause:.1f} s (target <= {TARGET_PAUSE_S:g} s) "
                         f"{mark(pause <= TARGET_PAUSE_S)}")
    else:
        lines.append("  max pause: not measured (no layout with 2 or more workers, or negative --churn-seconds)")
    return "\n".join(lines)


async def _run(args: argparse.Namespace, layouts: list[tuple[int, int]]) -> int:
    results: list[Result] = []
    names = [f"{w}x{a}" for w, a in layouts]
    async with AsyncExitStack() as stack:
        servers = await stack.enter_async_context(Servers())
        markets = await load_markets(servers)
        print(f"servers up (state and logs under {servers.state}); load over {len(markets)} markets "
              f"({', '.join(markets)}), one per partition", flush=True)
        most = max(a for _, a in layouts)
        async with Layout(servers, 1, 1) as layout:
            await layout.ready()
            traders = await sign_up(layout.api_ports[0], args.connections * most, list(markets),
                                    servers.settings.partitions)
            await fund(servers, traders, markets)
            print(f"{len(traders)} traders signed up; warming up the servers with {args.warm_up:g} s "
                  f"of load on 1x1 (not reported)", flush=True)
            if args.warm_up > 0:
                await layout.ready()
                await open_loop(layout.api_ports, [traders[:args.connections]], args.rate, args.warm_up, seed=99)
        for round_ in range(1, args.rounds + 1):
            for workers, apis in layouts:
                result = await measure(servers, workers, apis, traders, args, round_)
                print(describe(result), flush=True)
                results.append(result)
    print(summary(results, names, args.rounds), flush=True)
    return 0
