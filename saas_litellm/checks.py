"""Django's deploy security checks, kept whole with our middleware subclasses.

Django finds its security, CSRF and X-Frame-Options middleware by their exact
paths in MIDDLEWARE, and skips every check that depends on them (HSTS, SSL
redirect, nosniff, CSRF cookie, X-Frame-Options DENY...) when it does not find
them. MIDDLEWARE lists subclasses (saas_litellm.middleware), so Django's
"not in MIDDLEWARE" warnings (security.W001-W003) are silenced in settings, this
module warns when a middleware is missing under either path, and it runs the
dependent checks as if Django's paths were listed.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register
from django.core.checks.security import base, csrf
from django.test.utils import override_settings

SUBCLASSED = {
    "saas_litellm.middleware.SecurityMiddleware": (
        "django.middleware.security.SecurityMiddleware"
    ),
    "saas_litellm.middleware.CsrfViewMiddleware": (
        "django.middleware.csrf.CsrfViewMiddleware"
    ),
    "saas_litellm.middleware.XFrameOptionsMiddleware": (
        "django.middleware.clickjacking.XFrameOptionsMiddleware"
    ),
}

DEPENDENT_CHECKS = (
    base.check_sts,
    base.check_sts_include_subdomains,
    base.check_sts_preload,
    base.check_content_type_nosniff,
    base.check_ssl_redirect,
    base.check_xframe_deny,
    base.check_referrer_policy,
    base.check_cross_origin_opener_policy,
    csrf.check_csrf_cookie_secure,
)


@register(Tags.security, deploy=True)
def middleware_security_checks(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for ours, django in SUBCLASSED.items():
        if ours not in settings.MIDDLEWARE and django not in settings.MIDDLEWARE:
            messages.append(
                Warning(
                    f"Neither {ours} nor {django} is in MIDDLEWARE: the protection "
                    "it gives every response is off.",
                    id="saas_litellm.W001",
                )
            )
    as_django = [SUBCLASSED.get(path, path) for path in settings.MIDDLEWARE]
    with override_settings(MIDDLEWARE=as_django):
        for check in DEPENDENT_CHECKS:
            messages.extend(check(app_configs))
    return messages
