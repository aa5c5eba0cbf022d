"""Gunicorn settings for `manage.py run` and the Docker image."""

from __future__ import annotations

import os

wsgi_app = "config.wsgi:application"
bind = os.environ.get("BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = 60
graceful_timeout = 20
# Our request middleware writes one structured line per request; gunicorn's own would duplicate it.
accesslog = None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Send oversized bodies away before Django sees them (webhook bodies are capped at 1 MiB).
limit_request_field_size = 16384
# No control socket: nothing here uses it, and it would be written to $HOME.
control_socket_disable = True
