"""Request and response shapes of the teams API. Never a plaintext key or secret."""

from __future__ import annotations

from rest_framework import serializers

from teams.models import VirtualKey


class VirtualKeySerializer(serializers.ModelSerializer):
    """A key as lists show it: display form only."""

    class Meta:
        model = VirtualKey
        fields = [
            "key_id",
            "name",
            "key_prefix",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
        ]
        read_only_fields = fields
