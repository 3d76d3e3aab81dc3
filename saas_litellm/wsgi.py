"""WSGI entry point (management tools and plain WSGI servers)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas_litellm.settings")

application = get_wsgi_application()
