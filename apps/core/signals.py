"""Signals the core sends for higher layers to act on (they connect; core never imports them).

``worker_check`` is sent when a worker starts and with every heartbeat (``manage.py worker``), and
by ``manage.py run`` as soon as its worker died: receivers look for work a dead worker left (the
sync app marks its runs interrupted).
"""

from __future__ import annotations

from django.dispatch import Signal

worker_check = Signal()
