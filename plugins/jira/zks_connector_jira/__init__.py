"""Jira worklogs as a source for Zammad → Kimai Sync (Cloud REST v3, Data Center REST v2).

The connector uses only the host's public connector contract (``apps.connectors.base``,
``apps.connectors.entry``, ``apps.connectors.http``) and is found through the entry-point group
``zammad_kimai_sync.connectors`` (see ``pyproject.toml``). Section numbers (§) in this package
refer to ``docs/reference/jira-api.md`` of the host repository.
"""

__version__ = "0.1.0"
