"""Factories for plain catalogue objects. Teams, keys and ledger entries come from
the real services."""

from __future__ import annotations

import factory

from teams.models import ModelAccessGroup, ModelAlias


class AccessGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelAccessGroup
        django_get_or_create = ("group_name",)

    group_name = factory.Sequence(lambda n: f"credits-group-{n}")
    display_name = factory.LazyAttribute(lambda o: o.group_name.title())


class ModelAliasFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelAlias
        skip_postgeneration_save = True

    model_alias = factory.Sequence(lambda n: f"credits-alias-{n}")
    provider = "openai"
    actual_model = "openai/gpt-4o-mini"
    mock_response = "ok"

    @factory.post_generation
    def access_groups(self, create: bool, groups: list | None, **kwargs) -> None:
        if create and groups:
            self.access_groups.set(groups)
