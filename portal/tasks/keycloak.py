"""Keycloak jobs: idempotent, retried with backoff on 5xx/429/network errors, failing visibly on the
rest. Each reloads its rows and checks the current state before acting."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TypeVar

from sqlalchemy import or_, select

from portal.extensions import db
from portal.integrations.keycloak_admin import KeycloakAdminClient, KeycloakAdminError, admin_client
from portal.integrations.keycloak_roles import user_realm_roles
from portal.jobs.errors import PermanentJobError, TransientJobError
from portal.jobs.kinds import JobKind
from portal.jobs.registry import JobContext, job_handler
from portal.models import Membership, Organization, User
from portal.services.audit import record_event
from portal.services.memberships import (
    ClaimedOrganization,
    KeycloakMember,
    reconcile_memberships,
    reconcile_organization_members,
)
from portal.services.organization_sync import record_idp_aliases, upsert_from_keycloak
from portal.services.organizations import alias_for, link_to_keycloak
from portal.services.users import follow_keycloak_realm_roles

T = TypeVar("T")


def _keycloak(call: Callable[[], T]) -> T:
    try:
        return call()
    except KeycloakAdminError as exc:
        if exc.transient:
            raise TransientJobError(str(exc)) from exc
        raise PermanentJobError(str(exc)) from exc


def _load(model: type[T], ctx: JobContext, name: str) -> T:
    obj = db.session.get(model, ctx.arg(name))
    if obj is None:
        raise PermanentJobError(f"{model.__name__} {ctx.arg(name)} no longer exists")
    return obj


def _keycloak_user_id(client: KeycloakAdminClient, user: User) -> str | None:
    """The user's Keycloak id: their token's subject if Keycloak still has it, else the account
    with their email, else None."""
    sub = user.keycloak_sub
    if sub and _keycloak(lambda: client.user_exists(sub)):
        return sub
    found = _keycloak(lambda: client.find_user_by_email(user.email))
    return str(found["id"]) if found and found.get("id") else None


@job_handler(JobKind.KEYCLOAK_PUSH_MEMBER)
def push_member(ctx: JobContext) -> None:
    """Put a learner into the Keycloak organization (b2b-rules 2: after a code redemption or a
    hand-made membership). "Already a member" (409) is success."""
    user = _load(User, ctx, "user_id")
    org = _load(Organization, ctx, "organization_id")
    if not org.keycloak_id:
        raise PermanentJobError(
            f"{org.name} is not linked to a Keycloak organization; create or link it first"
        )
    client = admin_client()
    ctx.set_step("finding user")
    kc_user = _keycloak_user_id(client, user)
    if kc_user is None:
        first, _, last = (user.name or "").partition(" ")
        kc_user = _keycloak(lambda: client.create_user(user.email, first, last))
    ctx.set_step("adding member")
    member_id = kc_user
    added = _keycloak(lambda: client.add_member(org.keycloak_id or "", member_id))
    record_event(
        "keycloak.member_pushed",
        "organization",
        org.id,
        organization_id=org.id,
        after={"user_id": user.id, "keycloak_user": kc_user, "already_member": not added},
        actor_kind="job",
    )


@job_handler(JobKind.KEYCLOAK_CREATE_ORGANIZATION)
def create_organization(ctx: JobContext) -> None:
    """Create the Keycloak organization for a portal organization that has none. A retry after a
    create that succeeded finds it by alias and links it instead of failing."""
    org = _load(Organization, ctx, "organization_id")
    client = admin_client()
    alias = alias_for(org)
    if org.keycloak_id:
        ctx.set_step("checking link")
        if _keycloak(lambda: client.get_organization(org.keycloak_id or "")) is not None:
            return
    ctx.set_step("looking up alias")
    existing = _keycloak(lambda: client.find_organization_by_alias(alias))
    if existing is not None:
        kc_id = str(existing["id"])
        action = "keycloak.organization_linked"
    else:
        ctx.set_step("creating")
        kc_id = _keycloak(lambda: client.create_organization(org.name, alias, org.description))
        action = "keycloak.organization_created"
    before = {"keycloak_id": org.keycloak_id, "keycloak_alias": org.keycloak_alias}
    org.keycloak_id = kc_id
    org.keycloak_alias = alias
    record_event(
        action,
        "organization",
        org.id,
        organization_id=org.id,
        before=before,
        after={"keycloak_id": kc_id, "keycloak_alias": alias},
        actor_kind="job",
    )
    if existing is not None:
        ctx.set_step("reading identity providers")
        record_idp_aliases(org, _keycloak(lambda: client.organization_identity_providers(kc_id)))


@job_handler(JobKind.KEYCLOAK_PULL_ORGANIZATIONS)
def pull_organizations(ctx: JobContext) -> None:
    """Create and update portal organizations from Keycloak's (never delete; never change a key),
    with each one's linked identity providers. Run by staff, the command line, and on a timer."""
    client = admin_client()
    ctx.set_step("reading Keycloak")
    reps = _keycloak(lambda: list(client.iter_organizations()))
    ctx.set_step("reading identity providers")
    ids = [str(rep["id"]) for rep in reps if isinstance(rep.get("id"), str) and rep["id"]]
    idps: dict[str, list[str]] = {}
    for kc_id in ids:  # one request each: the bar counts them
        idps[kc_id] = _keycloak(partial(client.organization_identity_providers, kc_id))
        ctx.progress(len(idps), len(ids), "organizations")
    ctx.set_step("updating")
    counts = upsert_from_keycloak(reps, idps)
    record_event(
        "keycloak.organizations_pulled", "organization", None, after=counts, actor_kind="job"
    )


@job_handler(JobKind.KEYCLOAK_RESYNC_MEMBER)
def resync_member(ctx: JobContext) -> None:
    """Re-read one learner's organizations from Keycloak's admin API and reconcile, so a fix does
    not wait for the learner to sign in again (b2b-rules 2, improvement over the reference)."""
    user = _load(User, ctx, "user_id")
    if not user.keycloak_sub:
        raise PermanentJobError(
            f"{user.email} has never signed in, so Keycloak has no account to read"
        )
    client, sub = admin_client(), user.keycloak_sub or ""
    ctx.set_step("reading Keycloak")
    orgs = _keycloak(lambda: client.user_organizations(sub))
    claimed = []
    for o in orgs:
        if not o.get("alias"):
            continue
        org_id = str(o["id"]) if o.get("id") else None
        member = _keycloak(partial(client.get_member, org_id, sub)) if org_id else None
        kind = str(member.get("membershipType") or "") if member else None
        claimed.append(ClaimedOrganization(alias=str(o["alias"]), id=org_id, membership_type=kind))
    reconcile_memberships(user, claimed, source="staff-resync")
    follow_keycloak_realm_roles(
        user,
        _keycloak(lambda: user_realm_roles(admin_client(), user.keycloak_sub or "")),
        source="staff-resync",
    )


@job_handler(JobKind.KEYCLOAK_RESYNC_ORGANIZATION)
def resync_organization(ctx: JobContext) -> None:
    """Re-read one organization from Keycloak's admin API: its linked identity providers and
    every member with their ``membershipType``, and reconcile all its memberships (staff's
    per-organization re-sync; b2b-rules 2 and 3)."""
    org = _load(Organization, ctx, "organization_id")
    if not org.keycloak_id:
        raise PermanentJobError(
            f"{org.name} is not linked to a Keycloak organization; link it first"
        )
    client, kc_id = admin_client(), org.keycloak_id
    ctx.set_step("reading identity providers")
    record_idp_aliases(org, _keycloak(lambda: client.organization_identity_providers(kc_id)))
    ctx.set_step("reading members")
    members = [
        KeycloakMember(
            keycloak_id=str(m["id"]),
            email=str(m["email"]) if m.get("email") else None,
            membership_type=str(m.get("membershipType") or "UNMANAGED"),
        )
        for m in _keycloak(lambda: list(client.iter_members(kc_id)))
        if m.get("id")
    ]
    ctx.set_step("reconciling")
    reconcile_organization_members(org, members)


@job_handler(JobKind.KEYCLOAK_LINK_ORGANIZATION)
def link_organization(ctx: JobContext) -> None:
    """Link a portal organization to an existing Keycloak organization found by its alias (staff
    console). Already linked to that one is success; a missing alias, or one another portal
    organization holds, fails with the reason (retrying cannot help)."""
    org = _load(Organization, ctx, "organization_id")
    alias: str = ctx.arg("alias", str)
    ctx.set_step("looking up alias")
    found = _keycloak(lambda: admin_client().find_organization_by_alias(alias))
    if found is None or not found.get("id"):
        raise PermanentJobError(f"Keycloak has no organization with the alias {alias!r}")
    kc_id = str(found["id"])
    if org.keycloak_id == kc_id and org.keycloak_alias == alias:
        return
    if org.keycloak_id:
        raise PermanentJobError(f"{org.name} is already linked to another Keycloak organization")
    holder = db.session.scalar(
        select(Organization).where(
            or_(Organization.keycloak_id == kc_id, Organization.keycloak_alias == alias),
            Organization.id != org.id,
        )
    )
    if holder is not None:
        raise PermanentJobError(
            f"{holder.name} ({holder.key}) is already linked to the Keycloak organization {alias!r}"
        )
    link_to_keycloak(org, kc_id, alias, actor_kind="job")
    ctx.set_step("reading identity providers")
    record_idp_aliases(
        org, _keycloak(lambda: admin_client().organization_identity_providers(kc_id))
    )


@job_handler(JobKind.KEYCLOAK_REMOVE_MEMBER)
def remove_member(ctx: JobContext) -> None:
    """Take a person out of the Keycloak organization after staff removed their membership
    (b2b-rules 2). Not a member (404), no Keycloak account, or a membership added back since
    are all done. A MANAGED member is refused: Keycloak would delete their account."""
    user = _load(User, ctx, "user_id")
    org = _load(Organization, ctx, "organization_id")
    if db.session.scalar(
        select(Membership.id).where(
            Membership.user_id == user.id, Membership.organization_id == org.id
        )
    ):
        return  # added back since: the current state wins
    if not org.keycloak_id:
        return
    client = admin_client()
    ctx.set_step("finding user")
    kc_user = _keycloak_user_id(client, user)
    if kc_user is None:
        return
    member_id, org_kc_id = kc_user, org.keycloak_id
    ctx.set_step("checking member")
    member = _keycloak(lambda: client.get_member(org_kc_id, member_id))
    if member is None:
        return
    if str(member.get("membershipType", "")).upper() == "MANAGED":
        raise PermanentJobError(
            f"{user.email} is a managed member of {org.name} (provisioned by its identity "
            "provider); Keycloak would delete the account, so remove them there instead"
        )
    ctx.set_step("removing member")
    removed = _keycloak(lambda: client.remove_member(org_kc_id, member_id))
    record_event(
        "keycloak.member_removed",
        "organization",
        org.id,
        organization_id=org.id,
        after={"user_id": user.id, "keycloak_user": kc_user, "was_member": removed},
        actor_kind="job",
    )
