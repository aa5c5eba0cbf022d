"""Fuzz the whole OpenAPI document with schemathesis against the served app (`make fuzz`).

Serves the app the way `make run` does (`manage.py run --without-worker`: gunicorn on a free
loopback port, PostgreSQL embedded in its own fresh DATA_DIR), seeds a Zammad and a Kimai
connection pointing at the test doubles on 127.0.0.1, creates an API key, then runs schemathesis
twice over every operation: with the key and without one. Checks: no 5xx, and every status code,
content type, header and body as documented. Connector URLs other than loopback are refused
(OUTBOUND_LOOPBACK_ONLY), so generated data never sends traffic off the machine.

    python -m tests.support.fuzz [--max-examples N] [--seed S]

Exits non-zero when either run found a failure or a server error; prints request counts and
durations. Reports (NDJSON, one event per line) are left in var/fuzz/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx

from tests.doubles.dataset import demo_dataset
from tests.support.servers import Served, served_doubles

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.update(
        APP_ENV="local",
        DATA_DIR=str(data_dir),
        ADMIN_EMAIL="fuzz@example.com",
        ADMIN_PASSWORD="fuzzing-is-not-a-password",
        OUTBOUND_LOOPBACK_ONLY="true",
        LOG_LEVEL="WARNING",
        WEB_CONCURRENCY="2",
        WEB_THREADS="4",
    )
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env, cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return result.stdout


def _wait_until_up(base_url: str, server: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode} before answering")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the server did not answer {base_url}/healthz within {seconds:.0f} s")


def _run_schemathesis(
    schema: Path, base_url: str, report: Path, options: argparse.Namespace, extra: list[str]
) -> tuple[int, float]:
    command = [
        str(Path(sys.executable).with_name("st")), "run", str(schema), "--url", base_url,
        "--checks", CHECKS, "--max-examples", str(options.max_examples),
        "--seed", str(options.seed), "--workers", "1", "--request-timeout", "30",
        "--phases", "examples,coverage,fuzzing", "--suppress-health-check", "all",
        "--report", "ndjson", "--report-ndjson-path", str(report), "--continue-on-failure",
        "--warnings", "off", *extra,
    ]  # fmt: skip
    started = time.monotonic()
    returncode = subprocess.run(command, cwd=ROOT, check=False).returncode
    return returncode, time.monotonic() - started


@dataclass
class Tally:
    requests: int = 0
    server_errors: int = 0
    failures: Counter[str] = field(default_factory=Counter)


def _tally(report: Path) -> Tally:
    """Requests sent, 5xx answers and failed checks, from schemathesis's NDJSON events."""
    tally = Tally()
    for line in report.read_text().splitlines():
        event = json.loads(line).get("ScenarioFinished")
        if not event:
            continue
        recorder = event.get("recorder", {})
        for interaction in recorder.get("interactions", {}).values():
            response = interaction.get("response") or {}
            tally.requests += 1
            if int(response.get("status_code") or 0) >= 500:
                tally.server_errors += 1
        for checks in recorder.get("checks", {}).values():
            for check in checks:
                if check.get("status") == "failure":
                    tally.failures[check["name"]] += 1
    return tally


def _seed(base_url: str, key: str, env: dict[str, str], served: Served) -> None:
    """Two connections to the doubles, their reference data, and a run's conflicts and audit."""
    headers = {"Authorization": f"Bearer {key}"}
    for kind, url, token in (
        ("zammad", served.zammad_url, served.dataset.zammad_token),
        ("kimai", served.kimai_url, served.dataset.kimai_token),
    ):
        body = {"kind": kind, "name": kind.title(), "base_url": url, "token": token}
        created = httpx.post(f"{base_url}/api/v1/connections", json=body, headers=headers,
                             timeout=60)  # fmt: skip
        created.raise_for_status()
    httpx.post(f"{base_url}/api/v1/mappings/reference/refresh", headers=headers, timeout=120)
    days = [entry.created_at.date() for entry in served.dataset.entries]
    first, last = min(days) - timedelta(days=1), max(days) + timedelta(days=1)
    _manage(env, "sync", "--window", first.isoformat(), last.isoformat())


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=25)
    parser.add_argument("--seed", type=int, default=14)
    options = parser.parse_args()

    data_dir = ROOT / "var" / "fuzz"
    shutil.rmtree(data_dir, ignore_errors=True)
    env = _environment(data_dir)
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    data_dir.mkdir(parents=True)
    server_log = (data_dir / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "run", "--without-worker",
         "--bind", f"127.0.0.1:{port}"],
        env=env, cwd=ROOT, start_new_session=True, stdout=server_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    results = []
    try:
        with served_doubles(demo_dataset(weeks=1)) as served:
            _wait_until_up(base_url, server)
            key = _manage(env, "create_api_key", "fuzz").strip().splitlines()[-1]
            _seed(base_url, key, env, served)
            schema = data_dir / "openapi.json"
            document = httpx.get(f"{base_url}/api/v1/openapi.json", timeout=30,
                                 headers={"Authorization": f"Bearer {key}"})  # fmt: skip
            document.raise_for_status()
            schema.write_text(document.text)
            runs = [
                # Revoking keys is fuzzed without a key: with one, it would revoke its own.
                ("with an API key", "key", ["--header", f"Authorization: Bearer {key}",
                                            "--exclude-path-regex", "/revoke$"]),
                ("without a key", "anonymous", []),
            ]  # fmt: skip
            for label, name, extra in runs:
                report = data_dir / f"schemathesis-{name}.ndjson"
                code, seconds = _run_schemathesis(schema, base_url, report, options, extra)
                results.append((label, code, seconds, _tally(report)))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        server_log.close()
    for label, code, seconds, tally in results:
        failed = ", ".join(f"{name} {count}" for name, count in tally.failures.items()) or "none"
        print(
            f"schemathesis {label}: {tally.requests} requests in {seconds:.0f} s, "
            f"{tally.server_errors} server errors, failed checks: {failed} (exit {code})"
        )
    ok = all(code == 0 and t.server_errors == 0 for _, code, _, t in results)
    print("fuzzing passed" if ok else "fuzzing FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
