"""Benchmark: a fleet of `reflexrl train` processes on one memory, clean and under failures.

Run on demand (not part of the tests): `python evals/benchmarks/fleet.py [--workers 16]
[--epochs 20] [--kill 4] [--local 4] [--out FILE]`. Needs the `postgres` extra (and the
`local` extra for `--local`). It starts its own throwaway PostgreSQL 16 from the `pgserver`
wheel as the tests do (`tests/postgres_server.py`), but durable: fsync and synchronous_commit
on, so a crash of the server loses nothing a writer was told was committed.

1. Clean: `--workers` processes of `reflexrl train` (fake models: first, oracle and clarify in
   turn, each its own seed) on one SQLite file, then on one Postgres database. Timed from the
   first start to the last exit (process start-up included). Each run's episodes (prompt,
   actions, rewards, outcome) are its signature; these fake models do not read the memory,
   so a run's signature depends on its seed only, and the SQLite runs are the reference.
2. Failures: the same processes on a fresh Postgres database; `--kill` of them are killed
   with SIGKILL a third of the way in, and the server is restarted in immediate mode (a
   crash: no shutdown checkpoint) two thirds of the way in. Every run that did not complete is
   then resumed (`reflexrl train --resume RUN`) until it completes.
3. Local model: `--local` processes of `reflexrl train --model local:smollm2` (two epochs,
   one thread each) on a fresh Postgres database; one is killed with SIGKILL after its tenth
   episode and resumed.
   These read the memory the others write, so their runs are not compared with a reference.

Checked after each: every run completed, every episode index logged exactly once, every
signature equal to its reference (fake models), and the memory's rows equal to the credits of
every logged episode (visits equal, reward within 1e-9). Prints a summary and writes JSON to
`--out`; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

from postgres import PostgresServer, check_totals, run_server, server_version, throwaway_server

from reflexrl import open_memory

MODELS = ("fake:first", "fake:oracle", "fake:clarify")
DURABLE = "-c fsync=on -c synchronous_commit=on -c full_page_writes=on"


def train_cmd(location: str, model: str, seed: int, epochs: int) -> list[str]:
    return [
        *(sys.executable, "-m", "reflexrl", "train", "--model", model, "--memory", location),
        *("--seed", str(seed), "--epochs", str(epochs), "--json"),
    ]


def start_workers(location: str, workers: int, epochs: int) -> list[subprocess.Popen[str]]:
    open_memory(location).close()  # created once, before the workers race
    return [
        subprocess.Popen(
            train_cmd(location, MODELS[w % len(MODELS)], w, epochs),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(workers)
    ]


def wait_all(procs: Sequence[subprocess.Popen[str]]) -> list[int]:
    """Exit codes; the last lines a failed (not killed) process wrote are printed."""
    codes = []
    for proc in procs:
        _, err = proc.communicate(timeout=3600)
        codes.append(proc.returncode)
        if proc.returncode not in (0, -signal.SIGKILL):
            print(f"a worker exited with {proc.returncode}:", *err.splitlines()[-3:], sep="\n")
    return codes


def signatures(location: str) -> dict[int, list[Any]]:
    """Each run's episodes, by its seed: (index, prompt, (action, reward) per step, outcome)."""
    with closing(open_memory(location, create=False)) as store:
        return {
            run.seed: [
                (e.index, e.prompt, [(s.action, s.reward) for s in e.steps], e.outcome)
                for e in store.episodes(run.run_id)
            ]
            for run in store.runs()
        }


def runs_state(location: str) -> dict[str, Any]:
    """Runs by status, and whether every run logged each episode index once."""
    with closing(open_memory(location, create=False)) as store:
        runs = store.runs()
        indexes = {r.run_id: [e.index for e in store.episodes(r.run_id)] for r in runs}
        statuses = {r.run_id: r.status for r in runs}
    return {
        "runs": len(runs),
        "completed": sum(s == "completed" for s in statuses.values()),
        "each_index_once": all(ix == list(range(len(ix))) for ix in indexes.values()),
        "episodes": sum(len(ix) for ix in indexes.values()),
    }


def resume_all(location: str, max_attempts: int = 5) -> int:
    """Resume every run that did not complete, until it does; returns the resumes run."""
    resumes = 0
    for _ in range(max_attempts):
        with closing(open_memory(location, create=False)) as store:
            todo = [r.run_id for r in store.runs() if r.status != "completed"]
        if not todo:
            return resumes
        for run_id in todo:
            cmd = [sys.executable, "-m", "reflexrl", "train", "--resume", run_id]
            subprocess.run([*cmd, "--memory", location, "--json"], capture_output=True, check=False)
            resumes += 1
    return resumes


def restart_missing(location: str, workers: int, epochs: int) -> int:
    """Start again the workers killed before they logged their run (nothing to resume)."""
    with closing(open_memory(location, create=False)) as store:
        seeds = {r.seed for r in store.runs()}
    missing = [w for w in range(workers) if w not in seeds]
    for w in missing:
        cmd = train_cmd(location, MODELS[w % len(MODELS)], w, epochs)
        subprocess.run(cmd, capture_output=True, check=True)
    return len(missing)


def clean(location: str, workers: int, epochs: int) -> dict[str, Any]:
    start = time.perf_counter()
    codes = wait_all(start_workers(location, workers, epochs))
    seconds = time.perf_counter() - start
    state = runs_state(location)
    return {
        "workers": workers,
        "exit_codes_zero": all(c == 0 for c in codes),
        "seconds": seconds,
        "episodes_per_second": state["episodes"] / seconds,
        **state,
        **check_totals(location, state["episodes"]),
    }


def with_failures(
    server: PostgresServer,
    location: str,
    workers: int,
    epochs: int,
    kill: int,
    expected_seconds: float,
) -> dict[str, Any]:
    procs = start_workers(location, workers, epochs)
    time.sleep(expected_seconds / 3)
    killed = random.Random(0).sample(range(workers), kill)
    for w in killed:
        procs[w].send_signal(signal.SIGKILL)
    time.sleep(expected_seconds / 3)
    restarted = restart(server)
    codes = wait_all(procs)
    after_failures = runs_state(location)
    resumes = resume_all(location)
    started = restart_missing(location, workers, epochs)
    state = runs_state(location)
    return {
        "workers": workers,
        "killed": len(killed),
        "killed_before_their_run_started": started,
        "server_restart_s": restarted,
        "failed_exits": sum(c != 0 for c in codes),
        "completed_before_resuming": after_failures["completed"],
        "resumes": resumes,
        **state,
        **check_totals(location, state["episodes"]),
    }


def restart(server: PostgresServer) -> float:
    """Restart the server in immediate mode (a crash and its recovery); seconds it took."""
    start = time.perf_counter()
    data, log = str(server.folder / "data"), str(server.folder / "server.log")
    pg_ctl = str(server.bin_dir / "pg_ctl")
    run_server([pg_ctl, "-D", data, "-l", log, "-m", "immediate", "-w", "restart"])
    return time.perf_counter() - start


def kill_when_logged(
    location: str, *, seed: int, episodes: int, proc: subprocess.Popen[str]
) -> None:
    """SIGKILL `proc` once its run (by seed) has logged `episodes` episodes."""
    with closing(open_memory(location, create=False)) as store:
        while proc.poll() is None:
            runs = [r for r in store.runs() if r.seed == seed]
            if runs and len(store.episodes(runs[0].run_id)) >= episodes:
                proc.send_signal(signal.SIGKILL)
                return
            time.sleep(0.2)


def local_model(location: str, workers: int) -> dict[str, Any]:
    """`workers` local-model trainings (2 epochs) on one memory, one killed with SIGKILL
    after its tenth episode and resumed."""
    env = {**os.environ, "REFLEXRL_LOCAL_THREADS": "1"}
    open_memory(location).close()
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            train_cmd(location, "local:smollm2", 100 + w, 2),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for w in range(workers)
    ]
    kill_when_logged(location, seed=100, episodes=10, proc=procs[0])
    codes = wait_all(procs)
    resumes = resume_all(location)
    seconds = time.perf_counter() - start
    state = runs_state(location)
    return {
        "workers": workers,
        "killed": int(codes[0] == -signal.SIGKILL),
        "resumes": resumes,
        "seconds_with_resumes": seconds,
        **state,
        **check_totals(location, state["episodes"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--kill", type=int, default=4)
    parser.add_argument("--local", type=int, default=4, help="local-model workers (0: none)")
    parser.add_argument("--out", type=Path, default=Path("evals/reports/fleet-benchmark.json"))
    parser.add_argument(
        "--local-only", action="store_true", help="only part 3 (the report's other parts kept)"
    )
    args = parser.parse_args()
    report: dict[str, Any] = {"cores": os.cpu_count()}
    if args.local_only and args.out.exists():
        report = json.loads(args.out.read_text())
    with throwaway_server(DURABLE) as server, tempfile.TemporaryDirectory() as tmp:
        report["server"] = server_version(server) + " (fsync, synchronous_commit on)"
        print(report["server"], flush=True)
        if not args.local_only:
            fake_models(report, server, Path(tmp), args)
        if args.local:
            local = server.url(server.create_database())
            report["local_model"] = local_model(local, args.local)
            print("local model:", report["local_model"], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


def fake_models(
    report: dict[str, Any], server: PostgresServer, tmp: Path, args: argparse.Namespace
) -> None:
    """Parts 1 and 2, into `report`."""
    sqlite = str(tmp / "fleet.db")
    report["sqlite_clean"] = clean(sqlite, args.workers, args.epochs)
    print("sqlite, clean:", report["sqlite_clean"], flush=True)
    reference = signatures(sqlite)
    pg = server.url(server.create_database())
    report["postgres_clean"] = clean(pg, args.workers, args.epochs)
    report["postgres_clean"]["same_as_reference"] = signatures(pg) == reference
    print("postgres, clean:", report["postgres_clean"], flush=True)
    chaos = server.url(server.create_database())
    expected = report["postgres_clean"]["seconds"]
    report["postgres_failures"] = with_failures(
        server, chaos, args.workers, args.epochs, args.kill, expected
    )
    report["postgres_failures"]["same_as_reference"] = signatures(chaos) == reference
    print("postgres, kill -9 and a crash restart:", report["postgres_failures"], flush=True)


if __name__ == "__main__":
    main()
