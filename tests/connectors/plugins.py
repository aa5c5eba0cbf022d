"""Fake connector distributions for discovery tests: a real ``.dist-info`` directory and module on
disk, found through a patched ``importlib.metadata.entry_points``, the way pip-installed plugins
are found, while anything else installed in .venv (a real plugin) stays out of the test."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from apps.connectors.registry import ENTRY_POINT_GROUP, forget_discovery

# A complete source connector, written against the public contract only.
GOOD_SOURCE = """
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from apps.connectors.contract import (
    CONTRACT_VERSION, Capability, CheckReportDraft, HttpTuning, OutboundHttpClient,
    ReferenceData, SourceConnector,
)


class {name}Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    page_size: int = Field(default=50, title="Entries per request", description="Paging.")
    http: HttpTuning = HttpTuning()


class {name}Connector(SourceConnector):
    kind = "{kind}"
    contract_version = {version}
    capabilities = frozenset({{Capability.ENTRIES_IN_WINDOW}})
    settings_model = {name}Settings

    def _open_http(self, base_url, token, transport, sleep):
        return OutboundHttpClient(
            service="{name}", base_url=base_url, headers={{"Authorization": token}},
            transport=transport, sleep=sleep,
        )

    def check(self):
        return CheckReportDraft(self.kind, self.role, "x").finish(0)

    def forget_lookups(self):
        pass

    def fetch_reference_data(self):
        return ReferenceData()

    def fetch_entries_changed_since(self, since, known=None):
        return iter(())

    def fetch_entries_in_window(self, start, end):
        return iter(())

    def fetch_entries_of_ticket(self, ticket_id):
        return []

    def fetch_all_entries(self):
        return iter(())
"""


def good_source(name: str, kind: str, version: str = "CONTRACT_VERSION") -> str:
    return GOOD_SOURCE.format(name=name, kind=kind, version=version)


@dataclass
class FakeEnvironment:
    """The distributions ``importlib.metadata`` reports while a test runs."""

    root: Path
    distributions: list[metadata.Distribution] = field(default_factory=list)

    def install(self, package: str, version: str, kinds: dict[str, str], **modules: str) -> None:
        """A distribution ``package`` whose entry points map kind → ``module:Class``; each
        keyword argument is a module (dots as __) written next to it."""
        for dotted, source in modules.items():
            path = self.root.joinpath(*dotted.split("__")).with_suffix(".py")
            path.parent.mkdir(parents=True, exist_ok=True)
            for parent in path.relative_to(self.root).parents:
                if parent != Path("."):
                    (self.root / parent / "__init__.py").touch()
            path.write_text(textwrap.dedent(source))
        info = self.root / f"{package.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n"
        )
        lines = "".join(f"{kind} = {target}\n" for kind, target in kinds.items())
        (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")
        self.distributions.append(metadata.PathDistribution(info))
        forget_discovery()

    def install_this_project(self) -> None:
        self.install(
            "zammad-kimai-sync",
            "0.1.0",
            {
                "zammad": "apps.connectors.zammad.connector:ZammadConnector",
                "kimai": "apps.connectors.kimai.connector:KimaiConnector",
            },
        )
