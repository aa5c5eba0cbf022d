"""``python -m tests.doubles.jira``: serve the Jira double with the demo data on 127.0.0.1."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from apps.connectors.testkit.double import stop_on_signals
from tests.doubles.jira.dataset import jira_dataset, seed_from_dataset
from tests.doubles.jira.double import JiraDouble
from tests.doubles.jira.model import CLOUD, DATACENTER


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the Jira test double on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8083)
    parser.add_argument("--flavour", choices=(CLOUD, DATACENTER), default=CLOUD)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--seed", choices=("demo", "empty"), default="demo")
    args = parser.parse_args(argv)

    jira = JiraDouble(args.flavour)
    jira.latency = args.latency_ms / 1000
    dataset = jira_dataset(weeks=args.weeks)
    if args.seed == "demo":
        seed_from_dataset(jira, dataset)
    else:
        jira.add_user("Time Sync", dataset.sync_email, name="sync-bot",
                      api_token=dataset.api_token,
                      personal_access_token=dataset.personal_access_token)  # fmt: skip
    stop = stop_on_signals()
    with jira.serve(args.port) as url:
        print(f"Jira double ({args.flavour}): {url}", flush=True)
        print(dataset.login(args.flavour), flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
