"""Run the Zammad and Kimai doubles together with the demo data set.

    python -m tests.doubles.serve [--zammad-port 8082] [--kimai-port 8081] [--latency-ms 20]
                                  [--weeks 4 | --entries 10000]
                                  [--kimai-max-in-flight 4 [--kimai-retry-after 1]]
                                  [--webhook-url URL --webhook-secret SECRET]
                                  [--jira-port 8083 [--jira-flavour cloud|datacenter]]
                                  [--configure-pair] [--host 0.0.0.0 --on-network
                                   --reach-as doubles]

Both doubles share one data set (tests/doubles/dataset.py), so Zammad agents match Kimai users
by e-mail (all but one: the temp, who stays unmapped). Prints what to paste into the Connectors
page, then serves until Ctrl-C. Used for the demo (`make demo`, `docker compose --profile demo
up`), browser tests and benchmarks. With ``--jira-port`` a Jira double joins them
(tests/doubles/jira/dataset.py, the same people) and one more line says where; without it the
output is as before.

``--configure-pair`` also sets up the demo pair in the service's database (tests/doubles/
demo_pair.py) once its migrations are applied. They listen on 127.0.0.1 only, unless
``--on-network`` allows ``--host`` (the demo's private Compose network); ``--reach-as`` names the
host the service reaches them at.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from contextlib import ExitStack

from apps.connectors.testkit.double import stop_on_signals
from tests.doubles.dataset import Dataset, demo_dataset, scaled_dataset
from tests.doubles.jira import JiraDouble, jira_dataset
from tests.doubles.jira import seed_from_dataset as seed_jira
from tests.doubles.kimai import KimaiDouble
from tests.doubles.kimai import seed_from_dataset as seed_kimai
from tests.doubles.zammad import ZammadDouble
from tests.doubles.zammad import seed_from_dataset as seed_zammad

MIGRATION_WAIT_SECONDS = 600.0


def _configure_pair(zammad_url: str, kimai_url: str, dataset: Dataset) -> str:
    """Django is set up only here: the doubles themselves need none of it."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from apps.core.management.commands.worker import wait_until_migrated
    from tests.doubles.demo_pair import configure_demo_pair

    # The service migrates when it starts (`run`); the pair waits for it, like the worker.
    wait_until_migrated(MIGRATION_WAIT_SECONDS)
    profile = configure_demo_pair(zammad_url, kimai_url, dataset.zammad_token, dataset.kimai_token)
    return f"Demo pair ready: {profile.source.name} → {profile.target.name}."


def _reached_at(url: str, host: str | None) -> str:
    if not host:
        return url
    port = url.rsplit(":", 1)[1]
    return f"http://{host}:{port}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--zammad-port", type=int, default=8082)
    parser.add_argument("--kimai-port", type=int, default=8081)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument(
        "--entries", type=int, default=0, help="a large synthetic data set instead (benchmarks)"
    )
    parser.add_argument(
        "--kimai-max-in-flight",
        type=int,
        help="put Kimai behind a proxy that serves this many requests at once and answers 429 "
        "beyond (benchmarks)",
    )
    parser.add_argument(
        "--kimai-retry-after",
        type=int,
        default=1,
        help="the Retry-After seconds of that proxy's 429 (-1: none)",
    )
    parser.add_argument("--webhook-url")
    parser.add_argument("--webhook-secret")
    parser.add_argument("--jira-port", type=int, help="also serve a Jira double on this port")
    parser.add_argument("--jira-flavour", choices=("cloud", "datacenter"), default="cloud")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--on-network", action="store_true", help="allow --host off loopback (the demo network)"
    )
    parser.add_argument("--reach-as", help="the host name the service reaches the doubles at")
    parser.add_argument(
        "--configure-pair", action="store_true", help="set up the demo pair in the database"
    )
    args = parser.parse_args(argv)

    dataset = scaled_dataset(args.entries) if args.entries else demo_dataset(weeks=args.weeks)
    zammad, kimai = ZammadDouble(), KimaiDouble()
    seed_zammad(zammad, dataset)
    seed_kimai(kimai, dataset)
    for double in (zammad, kimai):
        double.latency = args.latency_ms / 1000
    kimai.max_in_flight = args.kimai_max_in_flight
    kimai.in_flight_retry_after = args.kimai_retry_after if args.kimai_retry_after >= 0 else None
    if args.webhook_url:
        zammad.configure_webhook(args.webhook_url, signature_token=args.webhook_secret)

    stop = stop_on_signals()
    network = {"host": args.host, "on_network": args.on_network}
    with ExitStack() as servers:
        zammad_url = servers.enter_context(zammad.serve(args.zammad_port, **network))
        kimai_url = servers.enter_context(kimai.serve(args.kimai_port, **network))
        zammad_url = _reached_at(zammad_url, args.reach_as)
        kimai_url = _reached_at(kimai_url, args.reach_as)
        print(f"Zammad double: {zammad_url}  token: {dataset.zammad_token}")
        print(f"Kimai double:  {kimai_url}  token: {dataset.kimai_token}")
        print(
            f"{len(dataset.entries)} time accountings on {len(dataset.tickets)} tickets by "
            f"{len(dataset.agents)} agents. Ctrl-C stops.",
            flush=True,
        )
        if args.jira_port is not None:
            print(serve_jira(servers, args), flush=True)
        if args.configure_pair:
            print("Setting up the demo pair once the service has migrated…", flush=True)
            try:
                print(_configure_pair(zammad_url, kimai_url, dataset), flush=True)
            except Exception as error:  # the doubles keep serving; the admin adds them by hand
                print(f"The demo pair was not set up: {error}", flush=True)
        stop.wait()
    zammad.close()
    return 0


def serve_jira(servers: ExitStack, args: argparse.Namespace) -> str:
    """Start the Jira double with its demo data; the line that says where and how to log in."""
    jira = JiraDouble(args.jira_flavour)
    jira.latency = args.latency_ms / 1000
    data = jira_dataset(weeks=args.weeks)
    seed_jira(jira, data)
    url = servers.enter_context(jira.serve(args.jira_port))
    return f"Jira double ({args.jira_flavour}): {url}  {data.login(args.jira_flavour)}"


if __name__ == "__main__":
    raise SystemExit(main())
