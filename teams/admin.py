"""Operator dashboard (Django admin) for the teams app.

Every save and delete is a call of the service the API calls (ServiceAdmin): the
admin never writes a row itself, so it refuses exactly what the API refuses. A new
plaintext key is shown once on a dedicated page (`admin/teams/key_shown_once.html`)
rendered as the response of the request that created it: never in Django messages
(they can live in a cookie), the URL, a change page or a log line.

The team page is not registered here: it also shows credits and jobs, which teams may
not import. TeamAdminBase is its teams part; jobs/admin.py registers the one TeamAdmin.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.utils import quote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html, format_html_join

from jobs import deployment_health
from jobs.routing import deployment_name
from jobs.services.checks import deployments_check
from saas_litellm.exceptions import ServiceError
from teams import services
from teams.models import (
    AuditLog,
    Deployment,
    ModelAccessGroup,
    ModelAlias,
    Organization,
    ProviderCredential,
    Team,
    TeamStatus,
    VirtualKey,
)

KEY_SHOWN_ONCE_TEMPLATE = "admin/teams/key_shown_once.html"
STATUS_CONFIRMATION_TEMPLATE = "admin/teams/team/status_confirmation.html"
STATUS_VERBS = {
    TeamStatus.SUSPENDED: "suspend",
    TeamStatus.PAUSED: "pause",
    TeamStatus.ACTIVE: "resume",
}
ISSUED_KEYS_ATTRIBUTE = "_teams_issued_keys"
REFUSAL_ATTRIBUTE = "_teams_service_refusal"


def admin_actor(request: HttpRequest) -> str:
    return f"admin:{request.user.get_username()}"


def copy_saved(target: Any, saved: Any) -> None:
    """Make the admin's unsaved form instance the object a service created."""
    for field in saved._meta.concrete_fields:
        setattr(target, field.attname, getattr(saved, field.attname))
    target._state.adding = False
    target._state.db = saved._state.db


def key_shown_once_response(
    request: HttpRequest,
    model_admin: admin.ModelAdmin,
    issued: list[tuple[VirtualKey, str]],
    back_url: str,
) -> TemplateResponse:
    """The only page that shows a plaintext key; it is never cached."""
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "New virtual key" if len(issued) == 1 else "New virtual keys",
        "issued_keys": [{"key": key, "plaintext": plain} for key, plain in issued],
        "back_url": back_url,
        "opts": model_admin.model._meta,
    }
    response = TemplateResponse(request, KEY_SHOWN_ONCE_TEMPLATE, context)
    add_never_cache_headers(response)
    return response


def _when(moment: Any) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"


def remember_issued(request: HttpRequest, key: VirtualKey, plaintext: str) -> None:
    setattr(request, ISSUED_KEYS_ATTRIBUTE, [(key, plaintext)])


def changed_values(
    form: forms.ModelForm, names: list[str] | None = None
) -> dict[str, Any]:
    """The form's changed fields (of `names`, if given) with their new values."""
    return {
        name: form.cleaned_data[name]
        for name in form.changed_data
        if names is None or name in names
    }


class ServiceRefusalForm:
    """Mixed into an admin form to show the service's refusal of the last submit."""

    refusal: ServiceError

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()  # type: ignore[misc]
        self.add_error(None, self.refusal.detail)  # type: ignore[attr-defined]
        return cleaned


class ServiceAdmin(admin.ModelAdmin):
    """A model page whose saves and deletes are service calls.

    Subclasses implement save_model and delete_model with the service the API uses;
    relations are the service's to save too (save_related saves nothing). Django runs
    a save or a delete in one transaction, so when the service refuses (a
    ServiceError) nothing is kept, not even the admin's history entry: a refused save
    shows the form again with the refusal as its error, a refused delete returns to
    the object with the refusal as an error message, and a refused bulk delete
    deletes none of the selected objects.
    """

    def save_model(
        self, request: HttpRequest, obj: Any, form: forms.ModelForm, change: bool
    ) -> None:
        raise NotImplementedError(f"{type(self).__name__} saves through a service")

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} deletes through a service")

    def save_related(
        self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool
    ) -> None:
        """The service saved the relations (no form.save_m2m())."""

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            self.delete_model(request, obj)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple:
        """Rows that protect the object (an organization's teams) stop the delete:
        say so, rather than that a permission to delete them is missing (no one may
        delete a team, and deleting its organization would not delete it)."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(
            objs, request
        )
        return deleted, counts, set() if protected else perms_needed, protected

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceError as refusal:
            # Rolled back; render the submitted form again, refused by get_form's form.
            setattr(request, REFUSAL_ATTRIBUTE, refusal)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        form = super().get_form(request, obj, change=change, **kwargs)
        refusal = getattr(request, REFUSAL_ATTRIBUTE, None)
        if refusal is None:
            return form
        return type(form.__name__, (ServiceRefusalForm, form), {"refusal": refusal})

    def delete_view(
        self,
        request: HttpRequest,
        object_id: str,
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except ServiceError as refusal:
            self.message_user(request, refusal.detail, messages.ERROR)
            opts = self.opts
            return HttpResponseRedirect(
                reverse(
                    f"admin:{opts.app_label}_{opts.model_name}_change",
                    args=[quote(object_id)],
                    current_app=self.admin_site.name,
                )
            )

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            _, name, description = actions["delete_selected"]
            actions[name] = (type(self).delete_selected_or_none, name, description)
        return actions

    def delete_selected_or_none(
        self, request: HttpRequest, queryset: QuerySet
    ) -> HttpResponse | None:
        """Django's bulk delete in one transaction: one refusal deletes none."""
        try:
            with transaction.atomic():
                return delete_selected(self, request, queryset)
        except ServiceError as refusal:
            self.message_user(request, refusal.detail, messages.ERROR)
            return None


# --- Organizations -----------------------------------------------------------------


@admin.register(Organization)
class OrganizationAdmin(ServiceAdmin):
    list_display = ["organization_id", "name", "team_count", "created_at"]
    search_fields = ["organization_id", "name"]
    readonly_fields = ["created_at", "updated_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(team_count=Count("teams"))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return self.readonly_fields
        return ["organization_id", *self.readonly_fields]

    def save_model(
        self,
        request: HttpRequest,
        obj: Organization,
        form: forms.ModelForm,
        change: bool,
    ) -> None:
        if change:
            services.organization_update(
                organization=obj, actor=admin_actor(request), **changed_values(form)
            )
            return
        created = services.organization_create(
            organization_id=form.cleaned_data["organization_id"],
            name=form.cleaned_data["name"],
            metadata=form.cleaned_data["metadata"],
            actor=admin_actor(request),
        )
        copy_saved(obj, created)

    def delete_model(self, request: HttpRequest, obj: Organization) -> None:
        services.organization_delete(organization=obj, actor=admin_actor(request))

    @admin.display(description="Teams", ordering="team_count")
    def team_count(self, obj: Organization) -> int:
        return obj.team_count


# --- Teams -------------------------------------------------------------------------


class TeamCreationForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["organization", "team_id", "team_alias", "access_groups"]


TEAM_CREATION_FIELDS = ["organization", "team_id", "team_alias", "access_groups"]


class TeamAdminBase(ServiceAdmin):
    """The teams part of the team page: status buttons and actions, keys, the add
    form, and the key shown once after it. Not registered: jobs/admin.py registers
    the one TeamAdmin, which adds the credits and jobs parts (balance, usage) and the
    saves (credits.services.team_onboard and team_settings_update, as the API)."""

    list_display = [
        "team_id",
        "team_alias",
        "organization",
        "status",
        "budget_mode",
        "created_at",
    ]
    list_filter = ["status", "budget_mode", "organization"]
    ordering = ["team_id"]
    search_fields = ["team_id", "team_alias", "organization__organization_id"]
    list_select_related = ["organization"]
    filter_horizontal = ["access_groups"]
    actions = ["suspend_teams", "pause_teams", "resume_teams"]
    fieldsets = [
        (None, {"fields": ["team_id", "organization", "team_alias", "status"]}),
        ("Credits", {"fields": ["budget_mode", "tokens_per_credit",
                                "credits_per_dollar", "markup_percent"]}),
        ("Keys", {"fields": ["keys_summary"]}),
        ("Models", {"fields": ["access_groups"]}),
        ("Rate limits", {"fields": ["requests_per_minute", "tokens_per_minute",
                                    "max_parallel_requests"]}),
        ("Request log", {"fields": ["payload_log_days"]}),
        ("Other", {"fields": ["metadata", "created_at", "updated_at"]}),
    ]  # fmt: skip
    readonly_fields = [
        "team_id",
        "organization",
        "status",
        "keys_summary",
        "created_at",
        "updated_at",
    ]

    add_form = TeamCreationForm
    add_fields = TEAM_CREATION_FIELDS

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list:
        if obj is None:
            return [(None, {"fields": self.add_fields})]
        return self.fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else self.readonly_fields

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # No service deletes a team (its keys and history are kept): suspend it.
        return False

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.status_view)
        return [
            path(
                "<path:object_id>/status/<str:status>/",
                view,
                name="teams_team_status",
            ),
            *super().get_urls(),
        ]

    def status_view(
        self, request: HttpRequest, object_id: str, status: str
    ) -> HttpResponse:
        """Suspend, pause or resume one team from its page: confirm, then POST."""
        team = self.get_object(request, object_id)
        if team is None or status not in TeamStatus.values:
            raise Http404("No such team or status")
        if not self.has_change_permission(request, team):
            raise PermissionDenied
        change_url = reverse("admin:teams_team_change", args=[team.pk])
        if request.method == "POST":
            services.team_status_set(
                team=team, status=status, actor=admin_actor(request)
            )
            self.message_user(
                request, f"Team {team.team_id} is now {status}.", messages.SUCCESS
            )
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{STATUS_VERBS[status].capitalize()} {team.team_id}?",
            "team": team,
            "status": status,
            "verb": STATUS_VERBS[status],
            "change_url": change_url,
        }
        return TemplateResponse(request, STATUS_CONFIRMATION_TEMPLATE, context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """Offer the other statuses as buttons above the form."""
        team = self.get_object(request, object_id)
        status_links = []
        if team is not None and self.has_change_permission(request, team):
            status_links = [
                (
                    reverse("admin:teams_team_status", args=[team.pk, status]),
                    STATUS_VERBS[status].capitalize(),
                )
                for status in TeamStatus.values
                if status != team.status
            ]
        extra_context = {**(extra_context or {}), "status_links": status_links}
        return super().change_view(request, object_id, form_url, extra_context)

    def response_add(
        self, request: HttpRequest, obj: Team, post_url_continue: str | None = None
    ) -> HttpResponse:
        issued = getattr(request, ISSUED_KEYS_ATTRIBUTE, None)
        if not issued:
            return super().response_add(request, obj, post_url_continue)
        back_url = reverse("admin:teams_team_change", args=[obj.pk])
        return key_shown_once_response(request, self, issued, back_url)

    @admin.display(description="Keys")
    def keys_summary(self, obj: Team) -> str:
        """Display forms only: the server never has a plaintext key to show."""
        keys = obj.keys.order_by("-created_at")
        manage_url = (
            reverse("admin:teams_virtualkey_changelist") + f"?team__id__exact={obj.pk}"
        )
        add_url = reverse("admin:teams_virtualkey_add") + f"?team={obj.pk}"
        rows = format_html_join(
            "",
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{}</td><td>{}</td></tr>",
            (
                (
                    k.key_prefix,
                    k.name,
                    k.status,
                    _when(k.created_at),
                    _when(k.last_used_at),
                    _when(k.expires_at or k.revoked_at),
                )
                for k in keys
            ),
        )
        return format_html(
            '<table class="team-keys"><thead><tr><th>Key</th><th>Name</th>'
            "<th>Status</th><th>Created</th><th>Last used</th>"
            "<th>Expires / revoked</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a class="button" href="{}">Issue a new key</a> '
            '<a href="{}">Rotate or revoke keys</a></p>',
            rows,
            add_url,
            manage_url,
        )

    def _set_status(
        self, request: HttpRequest, queryset: QuerySet, status: str, verb: str
    ) -> None:
        for team in queryset:
            services.team_status_set(
                team=team, status=status, actor=admin_actor(request)
            )
        self.message_user(request, f"{queryset.count()} team(s) {verb}.")

    @admin.action(description="Suspend selected teams", permissions=["change"])
    def suspend_teams(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_status(request, queryset, TeamStatus.SUSPENDED, "suspended")

    @admin.action(description="Pause selected teams", permissions=["change"])
    def pause_teams(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_status(request, queryset, TeamStatus.PAUSED, "paused")

    @admin.action(description="Resume selected teams", permissions=["change"])
    def resume_teams(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_status(request, queryset, TeamStatus.ACTIVE, "resumed")


# --- Virtual keys ------------------------------------------------------------------


class VirtualKeyCreationForm(forms.ModelForm):
    class Meta:
        model = VirtualKey
        fields = ["team", "name", "expires_at"]

    def clean_expires_at(self) -> Any:
        expires_at = self.cleaned_data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError("The expiry must be in the future.")
        return expires_at


class KeyStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("usable", "Usable"), ("revoked", "Revoked"), ("expired", "Expired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        if self.value() == "usable":
            return queryset.usable()
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        return queryset


@admin.register(VirtualKey)
class VirtualKeyAdmin(admin.ModelAdmin):
    """Keys are read-only here (display form only); revoke and rotate are actions."""

    list_display = [
        "key_prefix",
        "team",
        "name",
        "status",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = [KeyStatusFilter, "team__organization"]
    search_fields = ["team__team_id", "name", "key_prefix"]
    list_select_related = ["team"]
    actions = ["rotate_keys", "rotate_keys_now", "revoke_keys"]
    fields = [
        "key_id",
        "team",
        "name",
        "key_prefix",
        "status",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
        "rotated_from",
    ]
    readonly_fields = fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["team", "name", "expires_at"] if obj is None else self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else self.readonly_fields

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        if obj is None:
            kwargs["form"] = VirtualKeyCreationForm
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(
        self, request: HttpRequest, obj: VirtualKey, form: forms.ModelForm, change: bool
    ) -> None:
        issued = services.virtual_key_create(
            team=form.cleaned_data["team"],
            name=form.cleaned_data["name"],
            expires_at=form.cleaned_data["expires_at"],
            actor=admin_actor(request),
        )
        copy_saved(obj, issued.key)
        remember_issued(request, issued.key, issued.plaintext)

    def response_add(
        self,
        request: HttpRequest,
        obj: VirtualKey,
        post_url_continue: str | None = None,
    ) -> HttpResponse:
        issued = getattr(request, ISSUED_KEYS_ATTRIBUTE, [])
        back_url = reverse("admin:teams_virtualkey_changelist")
        return key_shown_once_response(request, self, issued, back_url)

    def has_manage_keys_permission(self, request: HttpRequest) -> bool:
        """Keys are never edited as rows, but rotating and revoking them is a change."""
        return request.user.has_perm(f"{self.opts.app_label}.change_virtualkey")

    @admin.action(description="Revoke selected keys now", permissions=["manage_keys"])
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet) -> None:
        for key in queryset.select_related("team"):
            services.virtual_key_revoke(
                team=key.team, key_id=key.key_id, actor=admin_actor(request)
            )
        self.message_user(request, f"{queryset.count()} key(s) revoked.")

    @admin.action(
        description="Rotate selected keys (old key valid 24 more hours)",
        permissions=["manage_keys"],
    )
    def rotate_keys(
        self, request: HttpRequest, queryset: QuerySet
    ) -> HttpResponse | None:
        return self._rotate(request, queryset, services.DEFAULT_ROTATION_GRACE)

    @admin.action(
        description="Rotate selected keys (old key stops working now)",
        permissions=["manage_keys"],
    )
    def rotate_keys_now(
        self, request: HttpRequest, queryset: QuerySet
    ) -> HttpResponse | None:
        return self._rotate(request, queryset, timedelta(0))

    def _rotate(
        self, request: HttpRequest, queryset: QuerySet, grace: timedelta
    ) -> HttpResponse | None:
        issued = []
        for key in queryset.select_related("team"):
            try:
                rotated = services.virtual_key_rotate(
                    team=key.team,
                    key_id=key.key_id,
                    actor=admin_actor(request),
                    grace_seconds=int(grace.total_seconds()),
                )
            except ServiceError as exc:
                self.message_user(
                    request, f"Key {key.key_prefix}: {exc.detail}", messages.ERROR
                )
            else:
                issued.append((rotated.key, rotated.plaintext))
        if not issued:
            return None
        back_url = reverse("admin:teams_virtualkey_changelist")
        return key_shown_once_response(request, self, issued, back_url)


# --- Model catalogue ---------------------------------------------------------------


@admin.register(ModelAccessGroup)
class ModelAccessGroupAdmin(ServiceAdmin):
    list_display = ["group_name", "display_name", "is_active", "alias_list", "teams"]
    list_filter = ["is_active"]
    search_fields = ["group_name", "display_name"]
    readonly_fields = ["created_at", "updated_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .prefetch_related("model_aliases")
            .annotate(team_count=Count("teams", distinct=True))
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The API cannot rename a group either.
        if obj is None:
            return self.readonly_fields
        return ["group_name", *self.readonly_fields]

    def save_model(
        self,
        request: HttpRequest,
        obj: ModelAccessGroup,
        form: forms.ModelForm,
        change: bool,
    ) -> None:
        if change:
            services.model_access_group_update(
                group=obj, actor=admin_actor(request), **changed_values(form)
            )
            return
        created = services.model_access_group_create(
            actor=admin_actor(request), **form.cleaned_data
        )
        copy_saved(obj, created)

    def delete_model(self, request: HttpRequest, obj: ModelAccessGroup) -> None:
        services.model_access_group_delete(group=obj, actor=admin_actor(request))

    @admin.display(description="Model aliases")
    def alias_list(self, obj: ModelAccessGroup) -> str:
        return ", ".join(a.model_alias for a in obj.model_aliases.all())

    @admin.display(description="Teams", ordering="team_count")
    def teams(self, obj: ModelAccessGroup) -> int:
        return obj.team_count


class ModelAliasForm(forms.ModelForm):
    class Meta:
        model = ModelAlias
        fields = "__all__"  # noqa: DJ007 - every field is the operator's to set

    def clean_fallbacks(self) -> list[str]:
        # Only the shape; which names may be fallbacks is model_alias_create's rule.
        fallbacks = self.cleaned_data.get("fallbacks") or []
        if not isinstance(fallbacks, list) or not all(
            isinstance(name, str) for name in fallbacks
        ):
            raise forms.ValidationError("Give a list of model alias names.")
        return fallbacks


def model_alias_fields(values: dict[str, Any]) -> dict[str, Any]:
    """Form values as model_alias_create and _update take them (names, not rows)."""
    fields = dict(values)
    if "access_groups" in fields:
        fields["access_groups"] = [g.group_name for g in fields["access_groups"]]
    if "credential" in fields:
        credential = fields["credential"]
        fields["credential"] = credential.credential_name if credential else None
    return fields


class DeploymentInline(admin.TabularInline):
    """The alias's further deployments; saved with the alias by its service."""

    model = Deployment
    fields = services.DEPLOYMENT_FIELDS
    extra = 0
    verbose_name = "further deployment"
    verbose_name_plural = "further deployments (the fields above are the first)"


def _deployments_of(form: forms.ModelForm, formset: Any) -> list[dict[str, Any]]:
    """The alias's deployments as the form and its inline give them, in order."""
    first = {name: form.cleaned_data.get(name) for name in services.DEPLOYMENT_FIELDS}
    further = [
        {name: row.cleaned_data.get(name) for name in services.DEPLOYMENT_FIELDS}
        for row in formset.forms
        if row.cleaned_data
        and not row.cleaned_data.get("DELETE")
        and row.cleaned_data.get("actual_model")
    ]
    return [model_alias_fields(fields) for fields in [first, *further]]


HEALTH_COLUMNS = (
    "Deployment",
    "Model",
    "State",
    "Requests this minute",
    "In flight",
    "Latency",
)


def deployment_health_table(alias: ModelAlias) -> str:
    """Each deployment's state as every server process sees it now."""
    if alias.pk is None:
        return "-"
    deployments = services.alias_deployments(alias)
    names = [deployment_name(d) for d in deployments]
    states = deployment_health.states(names)
    rows = []
    for deployment, name in zip(deployments, names, strict=True):
        state = states[name]
        requests = state.requests_this_minute
        rate = f"{state.failures_this_minute / requests:.0%}" if requests else "-"
        latency = "-" if state.latency_ms is None else f"{state.latency_ms:.0f} ms"
        cooling = f"cooling down, {state.cooling_for:.0f} s left"
        rows.append(
            (
                f"{alias.model_alias}#{deployment.position}",
                deployment.actual_model,
                cooling if state.cooling_for else "in rotation",
                f"{requests} ({rate} failed)",
                state.in_flight,
                latency,
            )
        )
    head = format_html_join(
        "",
        "<th>{}</th>",
        [(title,) for title in HEALTH_COLUMNS],
    )
    body = format_html_join("", "<tr>" + "<td>{}</td>" * 6 + "</tr>", rows)
    return format_html("<table><tr>{}</tr>{}</table>", head, body)


@admin.register(ModelAlias)
class ModelAliasAdmin(ServiceAdmin):
    form = ModelAliasForm
    inlines = [DeploymentInline]
    list_display = [
        "model_alias",
        "display_name",
        "provider",
        "actual_model",
        "routing_strategy",
        "credential",
        "is_active",
    ]
    list_filter = ["is_active", "provider", "routing_strategy", "access_groups"]
    list_select_related = ["credential"]
    search_fields = ["model_alias", "display_name", "actual_model"]
    filter_horizontal = ["access_groups"]
    readonly_fields = ["deployment_health", "created_at", "updated_at"]
    actions = ["deployments_test"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Not renamed, as in the API: other aliases name it in their fallbacks.
        if obj is None:
            return self.readonly_fields
        return ["model_alias", *self.readonly_fields]

    @admin.display(description="Deployments now")
    def deployment_health(self, obj: ModelAlias) -> str:
        return deployment_health_table(obj)

    def save_model(
        self, request: HttpRequest, obj: ModelAlias, form: forms.ModelForm, change: bool
    ) -> None:
        """Saved with its deployments by save_related: one service call."""

    def save_related(
        self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool
    ) -> None:
        obj = form.instance
        (formset,) = formsets
        deployments_changed = formset.has_changed() or any(
            name in form.changed_data for name in services.DEPLOYMENT_FIELDS
        )
        values = changed_values(form) if change else dict(form.cleaned_data)
        fields = model_alias_fields(
            {k: v for k, v in values.items() if k not in services.DEPLOYMENT_FIELDS}
        )
        if deployments_changed or not change:
            fields["deployments"] = _deployments_of(form, formset)
        # The inline saved nothing itself (the admin's history reads these).
        formset.new_objects, formset.changed_objects = [], []
        formset.deleted_objects = []
        if change:
            services.model_alias_update(alias=obj, actor=admin_actor(request), **fields)
            return
        created = services.model_alias_create(actor=admin_actor(request), **fields)
        copy_saved(obj, created)

    def delete_model(self, request: HttpRequest, obj: ModelAlias) -> None:
        services.model_alias_delete(alias=obj, actor=admin_actor(request))

    @admin.action(description="Test deployments (one tiny request each)")
    def deployments_test(self, request: HttpRequest, queryset: QuerySet) -> None:
        for check in deployments_check(aliases=list(queryset)):
            via = check.credential or "no credential"
            # Messages start with a word: the admin capitalizes their first letter.
            tested = f"Deployment {check.deployment} ({check.model}, {via})"
            if check.ok:
                self.message_user(
                    request, f"{tested}: ok in {check.latency_ms} ms", messages.SUCCESS
                )
            else:
                self.message_user(
                    request,
                    f"{tested}: failed after {check.latency_ms} ms: {check.error}",
                    messages.ERROR,
                )


class ProviderCredentialForm(forms.ModelForm):
    api_key = forms.CharField(
        required=False,
        strip=True,
        max_length=4000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Write-only: never shown again. Leave empty to keep the stored key.",
    )

    class Meta:
        model = ProviderCredential
        fields = [
            "credential_name",
            "provider",
            "organization",
            "api_base",
            "is_active",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.instance._state.adding and not cleaned.get("api_key"):
            self.add_error("api_key", "A new credential needs its API key.")
        return cleaned


@admin.register(ProviderCredential)
class ProviderCredentialAdmin(ServiceAdmin):
    form = ProviderCredentialForm
    list_display = [
        "credential_name",
        "provider",
        "organization",
        "is_active",
        "has_api_key",
    ]
    list_filter = ["is_active", "provider", "organization"]
    list_select_related = ["organization"]
    search_fields = ["credential_name", "provider"]
    readonly_fields = ["credential_id", "has_api_key", "created_at", "updated_at"]

    def save_model(
        self,
        request: HttpRequest,
        obj: ProviderCredential,
        form: forms.ModelForm,
        change: bool,
    ) -> None:
        if change:
            fields = changed_values(form)
            services.provider_credential_update(
                credential=obj,
                actor=admin_actor(request),
                api_key=fields.pop("api_key", None),
                **fields,
            )
            return
        created = services.provider_credential_create(
            actor=admin_actor(request), **form.cleaned_data
        )
        copy_saved(obj, created)

    def delete_model(self, request: HttpRequest, obj: ProviderCredential) -> None:
        services.provider_credential_delete(credential=obj, actor=admin_actor(request))

    @admin.display(boolean=True, description="API key stored")
    def has_api_key(self, obj: ProviderCredential) -> bool:
        return obj.has_api_key


# --- Audit log ---------------------------------------------------------------------


RECENT_AUDIT_ENTRIES = 10


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "action", "object_type", "object_id"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor", "action", "object_id"]
    date_hierarchy = "created_at"

    def recent_entries(self, request: HttpRequest) -> list[AuditLog] | None:
        """The admin home's "Recent actions" (the `recent_audit_log` tag): the newest
        entries, whoever acted (API or admin), or None for a user who may not read
        the audit log. Who, what, which object and when: before/after are not read."""
        if not self.has_view_permission(request):
            return None
        fields = ["actor", "action", "object_type", "object_id", "created_at"]
        return list(AuditLog.objects.only(*fields)[:RECENT_AUDIT_ENTRIES])

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
