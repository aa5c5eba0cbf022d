"""Jira worklogs as a source for Zammad → Kimai Sync (Cloud REST v3, Data Center REST v2).

The connector imports only the host's public connector contract (``apps.connectors.contract``,
version 1.1: it reads ticket facts and follows deletions) and is found through the entry-point group
``zammad_kimai_sync.connectors`` (see ``pyproject.toml``). Section numbers (§) in this package
refer to ``docs/reference/jira-api.md`` of the host repository.
"""

__version__ = "0.1.0"
