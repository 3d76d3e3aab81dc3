"""Factories for plain catalogue objects. Teams and keys come from the services."""

from __future__ import annotations

import factory

from teams.models import ModelAccessGroup, ModelAlias, Organization


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    organization_id = factory.Sequence(lambda n: f"org-{n}")
    name = factory.Sequence(lambda n: f"Organization {n}")


class ModelAccessGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelAccessGroup

    group_name = factory.Sequence(lambda n: f"group-{n}")
    display_name = factory.LazyAttribute(lambda o: o.group_name.title())


class ModelAliasFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelAlias
        skip_postgeneration_save = True

    model_alias = factory.Sequence(lambda n: f"alias-{n}")
    display_name = factory.LazyAttribute(lambda o: o.model_alias.upper())
    description = "A test model"
    provider = "openai"
    actual_model = "openai/gpt-4o-mini"
    mock_response = "Hello from the mock"

    @factory.post_generation
    def access_groups(self, create: bool, groups: list | None, **kwargs) -> None:
        if create and groups:
            self.access_groups.set(groups)
