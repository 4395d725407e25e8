"""
``make bench``: run every benchmark in ``bench/`` and write one table to
``bench/RESULTS.md``.

The convention: each benchmark is a standalone script (``bench/<name>.py``,
not starting with ``_``; ``common.py`` holds helpers they share) that reads ``DATABASE_URL`` / ``REDIS_URL``, prints
what it likes, and prints each figure worth keeping as one line

    BENCH <figure name> | <value> | <ratio, or ->

for example ``BENCH leaderboard top-50 p50, Redis | 0.41 ms | 37.2x faster than SQL``.
Figure names say what was measured and at what size; the ratio column says
against what (``-`` when there is nothing to compare with).
The driver runs the scripts one after another against PostgreSQL and Redis
(``DATABASE_URL`` / ``REDIS_URL`` from the environment, default
``postgres://postgres@127.0.0.1:5432/ibw_bench`` and
``redis://127.0.0.1:6379/8``; the driver creates that database when missing,
and scripts may make and drop their own on the same server), keeps each script's full output in
``bench/output/<name>.txt`` (not committed), and writes the table (figure,
value, ratio, date, machine). A script that fails, times out or prints no
``BENCH`` line gets a row saying so, and the driver exits non-zero.

    .venv/bin/python bench/run_all.py                 # every script
    .venv/bin/python bench/run_all.py leaderboard     # only some (the table then has only their rows)
    .venv/bin/python bench/run_all.py --again search  # run some again, keep the others' last output

With ``--again`` the named scripts run again and every other script's rows
are read from its last output in ``bench/output/`` (the note under the table
says which ones), so one script can be re-measured after a fix without
another full run.

``BENCH_TIMEOUT`` (seconds, default 900) bounds each script.

Among them, ``gunicorn_http`` and ``search`` (wrk against gunicorn; install
wrk with apt-get when missing; ``search`` compares full-text search with the
substring scan on two servers in one run), ``surge`` (2,000 attendees through
Caddy, gunicorn and Daphne; needs the ``caddy`` binary for the proxy) and
``uploads`` (photo proofs direct to moto's S3 versus multipart through
gunicorn) start the production topology themselves (``tests/topology.py``).
"""

from __future__ import annotations

import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUTPUT = HERE / "output"
RESULTS = HERE / "RESULTS.md"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/ibw_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/8"
# This driver, and the helpers the scripts share.
NOT_BENCHMARKS = {Path(__file__).name, "common.py"}
LINE = re.compile(r"^BENCH\s+(?P<figure>[^|]+?)\s*\|\s*(?P<value>[^|]*?)\s*\|\s*(?P<ratio>[^|]*?)\s*$")


@dataclass
class Row:
    figure: str
    value: str
    ratio: str


def scripts(selected: list[str]) -> list[Path]:
    found = sorted(p for p in HERE.glob("*.py") if p.name not in NOT_BENCHMARKS and not p.name.startswith("_"))
    if not selected:
        return found
    by_name = {p.stem: p for p in found}
    unknown = [name for name in selected if name.removesuffix(".py") not in by_name]
    if unknown:
        sys.exit(f"No such benchmark: {', '.join(unknown)} (have: {', '.join(by_name)})")
    return [by_name[name.removesuffix(".py")] for name in selected]


def parse(output: str) -> list[Row]:
    rows = []
    for line in output.splitlines():
        match = LINE.match(line.strip())
        if match:
            rows.append(Row(match["figure"], match["value"] or "-", match["ratio"] or "-"))
    return rows


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    model = re.sub(r"\s+", " ", model or platform.processor() or platform.machine())
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 1024**2:.0f} GiB RAM"
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPU × {model}{memory}"


def server_versions(env: dict[str, str]) -> str:
    """PostgreSQL and Redis versions, for the note under the table (best effort)."""
    found = []
    try:
        import psycopg

        url = urlunsplit(urlsplit(env["DATABASE_URL"])._replace(scheme="postgresql", path="/postgres"))
        with psycopg.connect(url, connect_timeout=3) as conn:
            found.append("PostgreSQL " + conn.execute("SHOW server_version").fetchone()[0].split()[0])
    except Exception:
        pass
    try:
        import redis

        found.append(
            "Redis " + redis.Redis.from_url(env["REDIS_URL"], socket_timeout=3).info("server")["redis_version"]
        )
    except Exception:
        pass
    return ", ".join(found)


def ensure_database(url: str) -> None:
    """Create the database ``DATABASE_URL`` names when it is missing, for scripts that use it as it is."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not parts.scheme.startswith("postgres") or not name:
        return
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def run(script: Path, env: dict[str, str], timeout: float) -> tuple[list[Row], str | None, float]:
    """Run one script, echoing and saving its output; return its rows, a problem or None, and seconds."""
    OUTPUT.mkdir(exist_ok=True)
    started = time.monotonic()
    print(f"\n=== {script.name}", flush=True)
    captured: list[str] = []
    with open(OUTPUT / f"{script.stem}.txt", "w") as log:
        process = subprocess.Popen(
            [sys.executable, str(script)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,
        )

        def pump() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                sys.stdout.write(line)
                log.write(line)
                captured.append(line)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        problem = None
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            problem = f"timed out after {timeout:.0f} s"
        reader.join(timeout=10)
    if problem is None and process.returncode != 0:
        problem = f"exited with {process.returncode}"
    rows = parse("".join(captured))
    if problem is None and not rows:
        problem = "printed no BENCH line"
    with open(OUTPUT / f"{script.stem}.txt", "a") as log:
        log.write(f"{PROBLEM_MARK}{problem}\n" if problem else "")
    return rows, problem, time.monotonic() - started


PROBLEM_MARK = "RUN_ALL problem: "


def earlier(script: Path) -> tuple[list[Row], str | None]:
    """A script's rows and problem from its last output (``--again``)."""
    path = OUTPUT / f"{script.stem}.txt"
    if not path.exists():
        return [], "no earlier output to reuse"
    text = path.read_text()
    marks = [line[len(PROBLEM_MARK) :] for line in text.splitlines() if line.startswith(PROBLEM_MARK)]
    rows = parse(text)
    return rows, marks[-1] if marks else (None if rows else "printed no BENCH line")


def table(results: list[tuple[Path, list[Row], str | None]], *, date: str, host: str) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").strip()

    lines = ["| figure | value | ratio | date | machine |", "| --- | --- | --- | --- | --- |"]
    for script, rows, problem in results:
        for row in rows:
            lines.append(f"| {cell(row.figure)} | {cell(row.value)} | {cell(row.ratio)} | {date} | {host} |")
        if problem:
            note = f"{script.stem}: {problem} (see bench/output/{script.stem}.txt)"
            lines.append(f"| {cell(note)} | - | - | {date} | {host} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    env.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.pop("IBW_TESTING", None)
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    timeout = float(env.get("BENCH_TIMEOUT", "900"))
    again = "--again" in argv
    argv = [arg for arg in argv if arg != "--again"]
    chosen = scripts(argv)
    if not chosen:
        sys.exit("No benchmark scripts in bench/.")
    ensure_database(env["DATABASE_URL"])
    load = os.getloadavg()[0]
    began = time.monotonic()
    results = []
    reused = []
    for script in scripts([]) if again else chosen:
        if again and script not in chosen:
            rows, problem = earlier(script)
            reused.append(script.name)
        else:
            rows, problem, seconds = run(script, env, timeout)
            print(f"=== {script.name}: {len(rows)} figure(s) in {seconds:.0f} s" + (f"; {problem}" if problem else ""))
        results.append((script, rows, problem))
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    host = machine()
    versions = server_versions(env)
    text = "\n".join(
        [
            "# Benchmark results",
            "",
            "Written by `make bench` (`bench/run_all.py`); do not edit by hand. Each figure is a line",
            "`BENCH <figure> | <value> | <ratio>` printed by a script in `bench/`; the full output of a run",
            "is in `bench/output/` (not committed).",
            "",
            table(results, date=date, host=host),
            "",
            f"Scripts: {', '.join(s.name for s in chosen)}; total {time.monotonic() - began:.0f} s;"
            + (
                f" rows of {', '.join(reused)} are from their previous run (bench/output/, `--again`);"
                if reused
                else ""
            )
            + f" load average {load:.1f} at the start (other work on the machine skews the figures)"
            + (f"; {versions}" if versions else "")
            + ".",
            "",
        ]
    )
    RESULTS.write_text(text)
    print(f"\nWrote {RESULTS.relative_to(ROOT)}:\n\n{text}")
    return 1 if any(problem for _, _, problem in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
