"""The project package as an app: it registers the project's own system checks and
sets up tracing when it is on."""

from django.apps import AppConfig


class SaasLitellmConfig(AppConfig):
    name = "saas_litellm"
    verbose_name = "SaaS LiteLLM"

    def ready(self) -> None:
        from saas_litellm import checks  # noqa: F401 - registers the checks
        from saas_litellm.tracing import tracing_setup

        tracing_setup()
