"""What scraping the model servers' load costs ChatLens: 4 model servers read every 5 s (``MODEL_METRICS_INTERVAL_S``).

    python -m benchmarks.bench_server_load [--servers 4] [--interval-s 5] [--seconds 60]

The servers are fake TGIs in their own processes (``python -m tests.support.fake_tgi --metrics tgi|vllm``; half
serve TGI's page, half vLLM's), so only ChatLens's side is measured: this process runs the real ``LoadScraper``
thread and the real writer thread over a DuckDB file, as the app does. Prints the CPU time of the whole process
(every thread) over the run as a share of one core, one round's cost, the pages' sizes and the rows written.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

from analytics.load_scraper import LoadScraper
from storage.schema import ServerLoadSample
from storage.store import Store
from storage.writer import WriteBehindRecorder
from tests.support.fake_tgi import free_port


def start_servers(count: int) -> tuple[list[subprocess.Popen[bytes]], list[str]]:
    processes, urls = [], []
    for i in range(count):
        port = free_port()
        page = "tgi" if i % 2 == 0 else "vllm"
        command = [sys.executable, "-m", "tests.support.fake_tgi", "--port", str(port), "--metrics", page]
        processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        urls.append(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 30
    for url in urls:
        while True:
            try:
                if httpx2.get(f"{url}/metrics", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not start")
            time.sleep(0.1)
    return processes, urls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=4)
    parser.add_argument("--interval-s", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    processes, urls = start_servers(args.servers)
    sizes = {url: len(httpx2.get(f"{url}/metrics").content) for url in urls}
    with tempfile.TemporaryDirectory() as folder:
        store = Store.open(f"duckdb:///{Path(folder) / 'bench.duckdb'}")
        recorder = WriteBehindRecorder(store)
        scraper = LoadScraper([(url, None) for url in urls], writer=recorder, interval_s=args.interval_s, keep_days=30)
        try:
            one_round = time.thread_time()
            scraper.scrape_round()  # also the first retention pass
            round_ms = (time.thread_time() - one_round) * 1000
            recorder.barrier().result(timeout=10)
            cpu, wall = time.process_time(), time.monotonic()
            scraper.start()
            time.sleep(args.seconds)
            scraper.stop()
            recorder.barrier().result(timeout=10)
            cpu, wall = time.process_time() - cpu, time.monotonic() - wall
            with store.sessions() as session:
                rows = session.query(ServerLoadSample).count()
        finally:
            recorder.close()
            store.close()
            for process in processes:
                process.terminate()
                process.wait(10)
    print(f"servers: {args.servers} ({', '.join(f'{n:,} B' for n in sizes.values())} pages), "
          f"every {args.interval_s:g} s for {wall:.0f} s")  # fmt: skip
    print(f"one round (this thread, {args.servers} GETs + parses): {round_ms:.1f} ms CPU")
    print(
        f"whole process, every thread: {cpu * 1000:.0f} ms CPU in {wall:.0f} s = {cpu / wall * 100:.3f} % of one core"
    )
    print(f"rows written: {rows}; load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
