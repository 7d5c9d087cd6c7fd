"""How fast `reflexrl ui` answers on a large memory: 100,000 rows and 10,000 episodes.

Builds (once, kept at --db) a synthetic log: one run of 10 epochs x 1,000 episodes, each of 10
steps crediting 10 prompts of its own (so 100,000 rows, 100,000 reward events, every
episode with a realistic message list and memory blocks), written through
`RewardTable.record_episode` like a real run. Then starts `reflexrl ui` on it and prints, per
page, the server's time to answer (median of --repeats) and, with Chromium installed, the
time to first contentful paint in headless Chromium (navigation start to first paint), and
the time of `report --format html`.

    python evals/benchmarks/ui.py [--db /tmp/reflexrl-ui-bench.db] [--repeats 5]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from reflexrl import RewardTable
from reflexrl.records import Episode, RunInfo, Step

RUN = "bench-run"
EPISODES, STEPS, EPOCHS = 10_000, 10, 10
TOOLS = ("search", "calculator", "create_image", "ask_user_for_clarification")


def build(path: Path) -> None:
    """The synthetic log, written episode by episode."""
    started = time.perf_counter()
    with RewardTable(path) as memory:
        memory.start_run(RunInfo(RUN, "bench", "fake:bench", 0, EPOCHS, 4))
        for i in range(EPISODES):
            memory.record_episode(_episode(i))
        memory.finish_run(RUN, "completed")
    print(
        f"built {path}: {EPISODES} episodes, {EPISODES * STEPS} rows in "
        f"{time.perf_counter() - started:.1f} s"
    )


def _episode(i: int) -> Episode:
    prompts = [
        f"synthetic prompt {i * STEPS + j}: please do task {i % 97} for item {j}"
        for j in range(STEPS)
    ]
    steps = tuple(
        Step(
            j,
            prompts[j],
            TOOLS[(i + j) % 4],
            {"text": prompts[j]},
            (1.0, -1.0, 0.0)[(i + j) % 3],
            (i + j) % 3 == 0,
        )
        for j in range(STEPS)
    )
    messages = [{"type": "human", "data": {"content": prompts[0]}}]
    for step in steps:
        call = {"name": step.action, "args": dict(step.args), "id": f"c{step.index}"}
        messages.append({"type": "ai", "data": {"content": "", "tool_calls": [call]}})
        messages.append({"type": "tool", "data": {"content": "result " * 20, "name": step.action}})
    blocks = tuple(
        f"<reflexrl_memory>\nCurrent user prompt: {p}\n</reflexrl_memory>" for p in prompts
    )
    return Episode(
        RUN,
        i,
        i // (EPISODES // EPOCHS) + 1,
        "bench",
        f"q{i % 100}",
        prompts[0],
        False,
        "valid",
        steps,
        tuple(messages),
        blocks,
    )


def pages(memory: RewardTable) -> dict[str, str]:
    """The pages to time: each kind, and the worst case of each list."""
    (episode_id,) = memory.db.execute("SELECT max(id) FROM episodes").fetchone()
    prompt = memory.db.execute("SELECT prompt FROM memory ORDER BY visits DESC LIMIT 1").fetchone()[
        0
    ]
    return {
        "memory table (first page, by visits)": "/",
        "memory table (page 1000 of 2000, by prompt)": "/?sort=prompt&order=asc&page=1000",
        "memory table (search)": "/?q=" + urllib.parse.quote("item 7"),
        "prompt page": "/prompt?" + urllib.parse.urlencode({"suite": "bench", "prompt": prompt}),
        "episode page": f"/episode/{episode_id}",
        "run page (10,000 episodes)": f"/run/{RUN}",
    }


def serve(path: Path) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "reflexrl", "ui", "--memory", str(path), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    address = re.search(r"http://127\.0\.0\.1:\d+", server.stdout.readline())
    assert address, "the server printed no address"
    return server, address[0]


def time_server(base: str, urls: dict[str, str], repeats: int) -> dict[str, float]:
    times = {}
    for name, url in urls.items():
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            with urllib.request.urlopen(base + url) as response:
                response.read()
            samples.append(time.perf_counter() - started)
        times[name] = statistics.median(samples)
    return times


def time_chromium(base: str, urls: dict[str, str]) -> dict[str, float]:
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        print("(no chromium / chromedriver: browser times not measured)")
        return {}
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1300,1500"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    script = (
        "const paint = performance.getEntriesByName('first-contentful-paint')[0];"
        "const load = performance.getEntriesByType('navigation')[0].loadEventEnd;"
        "return paint ? paint.startTime : load"
    )
    times = {}
    try:
        for name, url in urls.items():
            driver.get(base + url)  # returns once the page has loaded
            times[name] = float(driver.execute_script(script)) / 1000
    finally:
        driver.quit()
    return times


def arguments(doc: str | None) -> argparse.Namespace:
    """--db (the synthetic memory, built if missing) and --repeats, for this benchmark and
    the others that time that memory."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", type=Path, default=Path("/tmp/reflexrl-ui-bench.db"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not args.db.exists():
        build(args.db)
    return args


def main() -> None:
    args = arguments(__doc__)
    with RewardTable(args.db, read_only=True) as memory:
        urls = pages(memory)
        rows = memory.db.execute("SELECT count(*) FROM memory").fetchone()[0]
    server, base = serve(args.db)
    try:
        server_times = time_server(base, urls, args.repeats)
        browser_times = time_chromium(base, urls)
    finally:
        server.terminate()
        server.wait(10)
    print(
        f"{rows} rows, {EPISODES} episodes. server: median of {args.repeats} requests. first "
        "paint: navigation start to first contentful paint in headless Chromium (server time "
        "included; the load event where Chromium records no paint)"
    )
    for name in urls:
        paint = browser_times.get(name)
        shown = f"{paint * 1000:8.0f} ms" if paint is not None else "       -"
        print(f"  {name:45s} server {server_times[name] * 1000:8.0f} ms   first paint {shown}")
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "reflexrl",
            "report",
            "--memory",
            str(args.db),
            "--format",
            "html",
            "--out",
            "/tmp/reflexrl-ui-bench-report.html",
        ],
        check=True,
        capture_output=True,
    )
    print(f"  report --format html (whole command)          {time.perf_counter() - started:8.1f} s")


if __name__ == "__main__":
    main()
