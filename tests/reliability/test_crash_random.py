"""berthd SIGKILLed at a random moment of a mixed workload, again and again.

A few threads create, start, stop and remove containers (some publishing a port), exec in them, read
their logs, commit them, build, pull from Debian's docker-registry on loopback, remove images, and
create and remove volumes and networks. Each thread owns its objects, so each object has at most one
request in flight when berthd dies. A journal keeps what the API acknowledged, and what an
unacknowledged request may have done. After the kill berthd restarts on its own (no check first), and:

- every acknowledged result is there (and every acknowledged removal gone); an unacknowledged one is
  there whole or not at all;
- nothing half-made is visible once berthd has reconciled: a container's image and data dir, a network's
  bridge, no orphan mount, namespace, veth or firewall rule;
- containers acknowledged running still run;
- after a clean stop, `berthd --check --no-repair` finds nothing.

`BERTH_CRASH_RUNS` (default 5) sets the number of kills; each run prints its seed, and
`BERTH_CRASH_SEED=<seed>` replays that run alone (the same operations and kill time; threads still
interleave as the scheduler likes, and the store starts empty rather than as the earlier runs left it).
"""

from __future__ import annotations

import http.client
import io
import json
import os
import random
import tarfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.reliability.helpers import (
    import_tar,
    oci_layout_with_big_layer,
    private_berthd,
    run_check,
    runtime_ids,
    sigkill,
    wait_for_no_leftovers,
)
from tests.support.daemon import Berthd, prerequisites_missing
from tests.support.registry import Registry, require, running_registry, skopeo

RUNS = int(os.environ.get("BERTH_CRASH_RUNS", "5"))
SEED = os.environ.get("BERTH_CRASH_SEED")
THREADS = 3
MAX_CONTAINERS = 4  # per thread: the workload stays bounded however many runs
MAX_NETWORKS = 2
MAX_IMAGES = 2

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120 + 45 * (1 if SEED else RUNS))]

ABSENT, CREATED, RUNNING, EXITED, PAUSED, PRESENT = "absent", "created", "running", "exited", "paused", "present"


@dataclass
class Entry:
    """One object as the API acknowledged it; `maybe` is what an unacknowledged request may have made it."""

    kind: str  # container, image, volume, network
    name: str
    state: str
    maybe: set[str] = field(default_factory=set)
    logged: str = ""  # a line the container's logs were seen to hold
    image_id: str = ""


@dataclass
class Journal:
    entries: dict[str, Entry] = field(default_factory=dict)
    refusals: list[str] = field(default_factory=list)  # 5xx and internal errors: always a bug
    notes: list[str] = field(default_factory=list)  # known berthd faults the run worked around
    acknowledged: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def mine(self, owner: str, kind: str) -> list[Entry]:
        with self.lock:
            return [e for e in self.entries.values() if e.kind == kind and e.name.startswith(owner)
                    and e.state != ABSENT]


class Died(Exception):
    """The daemon went away under a request: its result is unknown."""


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Worker:
    """One thread's share of the workload; its objects' names start with `owner`."""

    def __init__(self, d: Berthd, journal: Journal, owner: str, rng: random.Random, pull_ref: str,
                 stop: threading.Event) -> None:
        self.d, self.journal, self.owner, self.rng, self.pull_ref, self.stop = d, journal, owner, rng, pull_ref, stop
        self.counter = 0

    def _name(self, kind: str) -> str:
        self.counter += 1
        return f"{self.owner}{kind}{self.counter}"

    def request(self, method: str, path: str, body: bytes | dict[str, object] | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        try:
            status, _, data = self.d.api.request(method, path, body, headers)
        except (OSError, http.client.HTTPException) as e:  # refused, reset, or an answer cut short
            raise Died(str(e)) from e
        if status >= 500:
            self.journal.refusals.append(f"{method} {path}: {status} {data[:300]!r}")
        return status, data

    def change(self, entry: Entry, to: str, send: Callable[[], bool]) -> None:
        """Send a request that moves `entry` to `to`; the journal knows the outcome only if it answers."""
        with self.journal.lock:
            entry.maybe.add(to)
            self.journal.entries[entry.name] = entry
        ok = send()  # raises Died: `maybe` stays
        with self.journal.lock:
            entry.maybe.discard(to)
            if ok:
                entry.state = to
                self.journal.acknowledged += 1

    def streamed(self, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[bool, str]:
        """A JSON-lines answer (pull, build): acknowledged when it ends without an error line."""
        status, data = self.request("POST", path, body, headers)
        if status != 200:
            return False, ""
        lines = [json.loads(x) for x in data.decode().splitlines() if x.strip()]
        if not lines:
            raise Died("the stream ended without a line")  # cut short by the kill
        errors = [str(x["error"]) for x in lines if "error" in x]
        for e in errors:
            if "internal error" in e:
                self.journal.refusals.append(f"POST {path}: {e}")
        ids = [str(x["aux"]["ID"]) for x in lines if isinstance(x.get("aux"), dict) and "ID" in x["aux"]]
        return not errors, (ids[-1] if ids else "")

    # ---- operations ---------------------------------------------------------------------------

    def create(self) -> None:
        name = self._name("c")
        body: dict[str, object] = {"Image": "busybox", "Cmd": ["sh", "-c", f"echo hello-{name}; exec sleep 100000"],
                                   "StopSignal": "SIGKILL"}
        if self.rng.random() < 0.3:
            body["ExposedPorts"] = {"80/tcp": {}}
            body["HostConfig"] = {"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}}
        self.change(Entry("container", name, ABSENT), CREATED,
                    lambda: self.request("POST", f"/containers/create?name={name}", body)[0] == 201)

    def start(self, c: Entry) -> None:
        self.change(c, RUNNING, lambda: self.request("POST", f"/containers/{c.name}/start")[0] == 204)

    def stop_container(self, c: Entry) -> None:
        self.change(c, EXITED, lambda: self.request("POST", f"/containers/{c.name}/stop?t=1")[0] == 204)

    def remove(self, c: Entry) -> None:
        self.change(c, ABSENT, lambda: self.request("DELETE", f"/containers/{c.name}?force=1")[0] == 204)

    def exec(self, c: Entry) -> None:
        token = f"exec-{self.rng.randrange(1 << 30)}"
        status, data = self.request("POST", f"/containers/{c.name}/exec",
                                    {"Cmd": ["echo", token], "AttachStdout": True, "AttachStderr": True})
        if status != 201:
            return
        eid = json.loads(data)["Id"]
        status, data = self.request("POST", f"/exec/{eid}/start", {"Detach": False, "Tty": False})
        if status == 200 and c.state == RUNNING and not c.maybe and token.encode() not in data:
            self.journal.refusals.append(f"exec in {c.name} answered without its output: {data[:200]!r}")

    def logs(self, c: Entry) -> None:
        status, data = self.request("GET", f"/containers/{c.name}/logs?stdout=1&stderr=1")
        line = f"hello-{c.name}"
        if status == 200 and line.encode() in data:
            c.logged = line

    def commit(self, c: Entry) -> None:
        tag = self._name("commit")
        image = Entry("image", tag, ABSENT)

        def send() -> bool:
            status, data = self.request("POST", f"/commit?container={c.name}&repo=crash/img&tag={tag}")
            if status == 201:
                image.image_id = json.loads(data)["Id"]
            return status == 201

        with self.journal.lock:
            c.maybe.add(PAUSED)  # commit pauses a running container while it reads its changes
        self.change(image, PRESENT, send)
        with self.journal.lock:
            c.maybe.discard(PAUSED)

    def build(self) -> None:
        tag = self._name("build")
        image = Entry("image", tag, ABSENT)
        context = _tar({"Dockerfile": f"FROM busybox\nRUN echo {tag} > /built\nLABEL crash={tag}\n".encode()})

        def send() -> bool:
            ok, image_id = self.streamed(f"/build?t=crash/img:{tag}&rm=1&forcerm=1", context,
                                         {"Content-Type": "application/x-tar"})
            image.image_id = image_id
            return ok

        self.change(image, PRESENT, send)

    def remove_image(self, image: Entry) -> None:
        ref = self.pull_ref if image.kind == "pulled" else f"crash/img:{image.name}"
        self.change(image, ABSENT, lambda: self.request("DELETE", f"/images/{ref}")[0] == 200)

    def pull(self) -> None:
        with self.journal.lock:
            entry = self.journal.entries.get(self.owner + "pulled", Entry("pulled", self.owner + "pulled", ABSENT))
        if entry.state == PRESENT:
            self.remove_image(entry)
            return
        repo, _, tag = self.pull_ref.rpartition(":")
        self.change(entry, PRESENT, lambda: self.streamed(f"/images/create?fromImage={repo}&tag={tag}", None, {})[0])

    def volume(self) -> None:
        mine = self.journal.mine(self.owner, "volume")
        if mine and self.rng.random() < 0.5:
            v = self.rng.choice(mine)
            self.change(v, ABSENT, lambda: self.request("DELETE", f"/volumes/{v.name}")[0] == 204)
            return
        name = self._name("v")
        self.change(Entry("volume", name, ABSENT), PRESENT,
                    lambda: self.request("POST", "/volumes/create", {"Name": name})[0] == 201)

    def network(self) -> None:
        mine = self.journal.mine(self.owner, "network")
        if len(mine) >= MAX_NETWORKS or (mine and self.rng.random() < 0.5):
            n = self.rng.choice(mine)
            self.change(n, ABSENT, lambda: self.request("DELETE", f"/networks/{n.name}")[0] == 204)
            return
        name = self._name("n")
        self.change(Entry("network", name, ABSENT), PRESENT,
                    lambda: self.request("POST", "/networks/create", {"Name": name})[0] == 201)

    def step(self) -> None:
        containers = [c for c in self.journal.mine(self.owner, "container") if not c.maybe]
        images = [i for i in self.journal.mine(self.owner, "image") if not i.maybe]
        running = [c for c in containers if c.state == RUNNING]
        stopped = [c for c in containers if c.state in (CREATED, EXITED)]
        choices: list[tuple[float, Callable[[], None]]] = [
            (3 if len(containers) < MAX_CONTAINERS else 0, self.create),
            (3 if stopped else 0, lambda: self.start(self.rng.choice(stopped))),
            (1 if running else 0, lambda: self.stop_container(self.rng.choice(running))),
            (2 if len(containers) >= MAX_CONTAINERS - 1 else 0.3, lambda: self.remove(self.rng.choice(containers))),
            (1.5 if running else 0, lambda: self.exec(self.rng.choice(running))),
            (1 if containers else 0, lambda: self.logs(self.rng.choice(containers))),
            (1 if containers and len(images) < MAX_IMAGES else 0, lambda: self.commit(self.rng.choice(containers))),
            (1 if len(images) < MAX_IMAGES else 0, self.build),
            (2 if images else 0, lambda: self.remove_image(self.rng.choice(images))),
            (1, self.pull),
            (1, self.volume),
            (1, self.network),
        ]
        if not containers:
            choices[3] = (0, choices[3][1])
        weights = [w for w, _ in choices]
        self.rng.choices([op for _, op in choices], weights)[0]()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.step()
            except Died:
                return
            except Exception:  # a thread's failure is the test's: keep it for the assertion
                self.journal.refusals.append(traceback.format_exc())
                return


# ---- verification -------------------------------------------------------------------------------

def _exists(d: Berthd, e: Entry, pull_refs: dict[str, str]) -> str:
    """The object's state as the restarted daemon reports it."""
    if e.kind == "container":
        status, _, body = d.api.request("GET", f"/containers/{e.name}/json")
        if status == 404:
            return ABSENT
        assert status == 200, body
        state = json.loads(body)["State"]
        if state["Paused"]:
            return PAUSED
        return RUNNING if state["Running"] else (CREATED if state["Status"] == "created" else EXITED)
    path = {"image": f"/images/crash/img:{e.name}/json", "volume": f"/volumes/{e.name}",
            "network": f"/networks/{e.name}"}.get(e.kind) or f"/images/{pull_refs.get(e.name, '')}/json"
    status, _, body = d.api.request("GET", path)
    assert status in (200, 404), (path, status, body)
    if status == 200 and e.kind == "image" and e.image_id:
        assert json.loads(body)["Id"] == e.image_id, (e.name, body)
    return PRESENT if status == 200 else ABSENT


def verify(d: Berthd, journal: Journal, pull_refs: dict[str, str]) -> list[str]:
    problems: list[str] = []
    for e in list(journal.entries.values()):
        actual = _exists(d, e, pull_refs)
        allowed = {e.state, *e.maybe}
        if e.kind == "container" and RUNNING in e.maybe:
            allowed |= {CREATED, EXITED}  # a start cut short is settled as it stood, or as exited
        if e.kind == "container" and ABSENT in e.maybe:
            allowed.add(EXITED)  # a forced removal kills first
        if actual not in allowed:
            problems.append(f"{e.kind} {e.name}: acknowledged {e.state} (maybe {sorted(e.maybe)}), found {actual}")
        elif e.kind == "container" and actual != ABSENT:
            info = d.api.json("GET", f"/containers/{e.name}/json")
            if d.api.request("GET", f"/images/{info['Image']}/json")[0] != 200:
                problems.append(f"container {e.name}: its image {info['Image']} is gone")
            if not (d.root / "containers" / info["Id"] / "upper").is_dir():
                problems.append(f"container {e.name}: no data dir")
            if e.logged:
                _, _, logs = d.api.request("GET", f"/containers/{e.name}/logs?stdout=1")
                if e.logged.encode() not in logs:
                    problems.append(f"container {e.name}: its log lost {e.logged!r}")
        if actual == PAUSED and PAUSED in e.maybe:
            # A commit cut short leaves its pause behind (dockerd's does too: its restore keeps a paused
            # container paused). The container survived; unpause, as the user would, and go on.
            status, _, body = d.api.request("POST", f"/containers/{e.name}/unpause")
            actual = RUNNING
            if status != 204:
                # Known fault: killed between the runtime's resume and the row's write, berthd says paused
                # of a process runc runs, and unpause fails (`berthd --check` now repairs the row).
                cid = d.api.json("GET", f"/containers/{e.name}/json")["Id"]
                assert runtime_ids(d).get(cid) == "running", (e.name, status, body)  # any other cause: a bug
                journal.notes.append(f"{e.name}: unpause answered {status} {body[:200]!r}; runc has it "
                                     f"{runtime_ids(d).get(cid)}: removed")
                assert d.api.request("DELETE", f"/containers/{e.name}?force=1")[0] == 204
                actual = ABSENT
            else:
                journal.notes.append(f"{e.name} left paused by a commit cut short (unpaused)")
        # what an unacknowledged request left is adopted as it is found
        e.state, e.maybe = actual, set()
    # nothing listed that no one asked for
    known = {e.name for e in journal.entries.values() if e.kind == "container" and e.state != ABSENT}
    for c in d.api.json("GET", "/containers/json?all=1"):
        name = c["Names"][0].lstrip("/")
        if name not in known:
            problems.append(f"container {name} ({c['State']}) was never asked for")
    return problems


def _whose(d: Berthd, journal: Journal, cid: str) -> str:
    """For a failure's message: what berthd says of a container a leftover belongs to."""
    status, _, body = d.api.request("GET", f"/containers/{cid}/json")
    if status != 200:
        return f"  {cid[:12]}: berthd does not know it ({status})"
    info = json.loads(body)
    entry = journal.entries.get(info["Name"].lstrip("/"))
    return f"  {cid[:12]} {info['Name']}: berthd says {info['State']}; journal {entry}"


def _registry_images(registry: Registry, tmp: Path, rng: random.Random) -> dict[str, str]:
    """One small image per thread in the registry (a pull of a few MiB can be cut by a kill)."""
    refs = {}
    for t in range(THREADS):
        layout = oci_layout_with_big_layer(tmp / f"oci{t}", rng.randrange(2 << 20, 6 << 20))
        ref = f"{registry.host}/crash/pull{t}:1"
        out = skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:big", f"docker://{ref}", timeout=120)
        assert out.returncode == 0, out.stderr
        refs[f"t{t}-pulled"] = ref
    return refs


def one_run(d: Berthd, journal: Journal, seed: int, run: int, pull_refs: dict[str, str]) -> dict[str, float]:
    rng = random.Random(seed)
    stop = threading.Event()
    workers = [Worker(d, journal, f"t{t}-", random.Random(rng.randrange(1 << 32)), pull_refs[f"t{t}-pulled"], stop)
               for t in range(THREADS)]
    for w in workers:
        w.counter = run * 1000  # names stay unique across runs
    kill_after = rng.uniform(0.3, 4.0)
    threads = [threading.Thread(target=w.run, daemon=True) for w in workers]
    before = journal.acknowledged
    for t in threads:
        t.start()
    time.sleep(kill_after)
    sigkill(d)
    stop.set()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a worker hung after the kill"
    begun = time.monotonic()
    d.start()  # berthd's own restore: no check first
    problems = verify(d, journal, pull_refs)
    left = wait_for_no_leftovers(d)
    settled = time.monotonic() - begun
    problems += left
    problems += [_whose(d, journal, cid) for cid in sorted({w for line in left for w in line.split()
                                                           if len(w) == 64 and w.isalnum()})]
    d.stop()  # clean stop (containers stay running): the check must then find nothing
    _code, report = run_check(d, "--no-repair")
    if not report["clean"]:
        problems += [f"check: [{f['area']}] {f['what']}" for f in report["findings"]]
    assert not journal.refusals, journal.refusals
    assert not problems, "\n".join(problems)
    d.start()
    return {"kill_after": kill_after, "acknowledged": journal.acknowledged - before, "settled": settled}


@pytest.fixture(autouse=True)
def _needs_root() -> None:
    missing = prerequisites_missing()
    if missing:
        pytest.skip(missing)


def test_sigkill_at_random_points_of_a_mixed_workload(tmp_path: Path, busybox_tar: Path) -> None:
    require("skopeo")
    seeds = [int(SEED)] if SEED else [random.SystemRandom().randrange(1 << 32) for _ in range(RUNS)]
    began = time.monotonic()
    with running_registry(tmp_path / "registry") as registry, private_berthd(tmp_path / "d") as d:
        pull_refs = _registry_images(registry, tmp_path, random.Random(seeds[0]))
        import_tar(d, busybox_tar.read_bytes(), "busybox")
        journal = Journal()
        for run, seed in enumerate(seeds):
            print(f"crash run {run + 1}/{len(seeds)}: seed {seed} (replay: BERTH_CRASH_SEED={seed})", flush=True)
            try:
                figures = one_run(d, journal, seed, run, pull_refs)
            except AssertionError as e:
                raise AssertionError(f"crash run {run + 1} failed; replay it with BERTH_CRASH_SEED={seed}\n{e}") from e
            print(f"  killed after {figures['kill_after']:.2f}s, {figures['acknowledged']} operations acknowledged, "
                  f"restored and reconciled in {figures['settled']:.1f}s", flush=True)
            while journal.notes:
                print(f"  note: {journal.notes.pop()}", flush=True)
        print(f"{len(seeds)} crash runs, {journal.acknowledged} acknowledged operations, "
              f"{time.monotonic() - began:.0f}s", flush=True)
        # everything the workload made goes, through the API: no bridge or rule outlives the test
        d.remove_all_containers()
        for n in d.api.json("GET", "/networks"):
            if n["Name"] not in ("bridge", "host", "none"):
                d.api.request("DELETE", f"/networks/{n['Id']}")
        d.api.request("POST", '/volumes/prune?filters={"all":["true"]}')
        assert wait_for_no_leftovers(d) == []
