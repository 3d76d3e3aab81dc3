"""ASGI entry point: what gunicorn's uvicorn workers serve (see Procfile)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas_litellm.settings")

application = get_asgi_application()
