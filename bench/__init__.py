"""Benchmarks: ``.venv/bin/python -m bench.<name>`` prints figures and asserts nothing.

Importing the package sets up what every benchmark shares: the repository on ``sys.path``, its
own embedded PostgreSQL in ``var/bench`` (so development data is untouched), the settings
module, and quiet logs. The environment wins where it already says otherwise.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATA_DIR", str(ROOT / "var" / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
