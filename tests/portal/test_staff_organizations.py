"""Staff organizations: list and search, create and edit, (de)activation, logos, the Keycloak link,
members, audit events, jobs, and that every route is staff-only."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from sqlalchemy import func, select

from portal.core.text import plural
from portal.models import (
    AuditEvent,
    BackgroundJob,
    Contract,
    JobState,
    Membership,
    MembershipSource,
    MembershipType,
    Organization,
    User,
)
from tests.support.factories import (
    CourseFactory,
    CourseRunFactory,
    MembershipFactory,
    OrganizationFactory,
)
from tests.support.rows import one
from tests.support.uploads import PNG_SIGNATURE, png_chunk, upload_logo


@pytest.fixture
def staff_setup(demo: None) -> None:
    """Staff sign in to the demo data."""


def org(db: Any, key: str) -> Organization:
    return one(Organization, key=key)


def events(db: Any, action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


def jobs_of(db: Any, kind: str) -> list[BackgroundJob]:
    return list(db.session.scalars(select(BackgroundJob).where(BackgroundJob.kind == kind)))


def count(db: Any, model: Any) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)))


def new_org_data(**overrides: str) -> dict[str, str]:
    data = {"name": "Initech", "key": "INITECH", "description": "Software", "active": "y"}
    data.update(overrides)
    return data


# --------------------------------------------------------------------------- list and search


def test_list_search_and_pagination(staff_client: FlaskClient, db: Any) -> None:
    page = staff_client.get("/staff/organizations").get_data(as_text=True)
    assert "Acme Corporation" in page and "Globex University" in page
    found = staff_client.get("/staff/organizations?q=acm").get_data(as_text=True)
    assert "Acme Corporation" in found and "Globex University" not in found
    by_key = staff_client.get("/staff/organizations?q=GLOB").get_data(as_text=True)
    assert "Globex University" in by_key and "Acme Corporation" not in by_key
    for q in ["%", "_", "' OR 1=1 --", "<script>", "ü" * 500]:
        response = staff_client.get("/staff/organizations", query_string={"q": q})
        assert response.status_code == 200
        assert "No organizations match." in response.get_data(as_text=True)
    for i in range(55):
        OrganizationFactory(name=f"Zed {i:02d}", key=f"ZED_{i:02d}")
    db.session.commit()
    first = staff_client.get("/staff/organizations?q=zed").get_data(as_text=True)
    assert "Zed 00" in first and "Zed 49" in first and "Zed 50" not in first and "Next" in first
    second = staff_client.get("/staff/organizations?q=zed&page=2").get_data(as_text=True)
    assert "Zed 50" in second and "Zed 54" in second and "Zed 49" not in second
    for bad in ["abc", "-3", "0", "99999999999999999999"]:
        assert staff_client.get(f"/staff/organizations?page={bad}").status_code == 200


# --------------------------------------------------------------------------- create and edit


def test_create_writes_the_organization_and_an_audit_event(
    staff_client: FlaskClient, db: Any
) -> None:
    assert staff_client.get("/staff/organizations/new").status_code == 200
    response = staff_client.post(
        "/staff/organizations/new", data=new_org_data(key=" initech ", keycloak_alias="initech")
    )
    assert response.status_code == 302
    created = org(db, "INITECH")  # the key is trimmed and upper-cased
    assert created.name == "Initech" and created.keycloak_alias == "initech" and created.active
    assert response.location.endswith(f"/staff/organizations/{created.id}")
    [event] = events(db, "organization.created")
    assert event.object_id == str(created.id) and event.before is None
    assert event.after == {
        "name": "Initech",
        "key": "INITECH",
        "description": "Software",
        "keycloak_alias": "initech",
        "active": True,
    }


def test_html_unicode_and_sql_looking_names_are_kept_and_escaped(
    staff_client: FlaskClient, db: Any
) -> None:
    name = "<script>alert(1)</script> Ünïcødé 組織 '; DROP TABLE organizations;--"
    response = staff_client.post("/staff/organizations/new", data=new_org_data(name=name))
    assert response.status_code == 302
    assert org(db, "INITECH").name == name
    page = staff_client.get("/staff/organizations").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Ünïcødé 組織" in page
    assert count(db, Organization) == 3


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": ""}, "Enter a name."),
        ({"name": "   "}, "Enter a name."),
        ({"name": "x" * 201}, "longer than 200 characters"),
        ({"name": "x" * 100_000}, "longer than 200 characters"),
        ({"name": "bad\x07name"}, "control characters"),  # NUL: refused earlier
        ({"key": ""}, "Enter a short key."),
        ({"key": "AC ME"}, "upper-case letters, digits and"),
        ({"key": "A" * 31}, "at most 30 characters"),
        ({"key": "<script>"}, "upper-case letters, digits and"),
        ({"key": "X'; DROP TABLE organizations;--"}, "at most 30"),
        ({"key": "ÄBC"}, "upper-case letters, digits and"),
        ({"description": "d\x07"}, "control characters"),
        ({"description": "d" * 10_001}, "longer than 10000 characters"),
        ({"keycloak_alias": "has space"}, "Use lower-case letters"),
        ({"keycloak_alias": "a/b"}, "Use lower-case letters"),
        ({"keycloak_alias": "<b>x</b>"}, "Use lower-case letters"),
    ],
)
def test_create_refuses_bad_input_and_writes_nothing(
    staff_client: FlaskClient, db: Any, data: dict[str, str], message: str
) -> None:
    before = count(db, AuditEvent)
    response = staff_client.post("/staff/organizations/new", data=new_org_data(**data))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert count(db, Organization) == 2
    assert count(db, AuditEvent) == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"key": "acme"}, "Another organization already uses this short key."),
        ({"keycloak_alias": "globex"}, "Another organization already uses this Keycloak alias."),
    ],
)
def test_create_duplicate_key_or_alias_is_a_clear_conflict(
    staff_client: FlaskClient, db: Any, data: dict[str, str], message: str
) -> None:
    response = staff_client.post("/staff/organizations/new", data=new_org_data(**data))
    assert response.status_code == 409
    assert message in response.get_data(as_text=True)
    assert count(db, Organization) == 2
    assert events(db, "organization.created") == []


def test_edit_saves_and_audits_before_and_after(staff_client: FlaskClient, db: Any) -> None:
    globex = org(db, "GLOBEX")
    assert staff_client.get(f"/staff/organizations/{globex.id}/edit").status_code == 200
    response = staff_client.post(
        f"/staff/organizations/{globex.id}/edit",
        data={"name": "Globex U", "key": "GLOBEX_U", "keycloak_alias": "globex", "active": "y"},
    )
    assert response.status_code == 302
    db.session.refresh(globex)
    assert globex.name == "Globex U" and globex.key == "GLOBEX_U"
    [event] = events(db, "organization.updated")
    assert event.before["name"] == "Globex University" and event.before["key"] == "GLOBEX"
    assert event.after["name"] == "Globex U" and event.after["key"] == "GLOBEX_U"
    assert staff_client.get("/staff/organizations/999999/edit").status_code == 404


def test_key_is_fixed_once_contract_runs_use_it(staff_client: FlaskClient, db: Any) -> None:
    globex = org(db, "GLOBEX")
    contract = db.session.scalar(select(Contract).where(Contract.organization_id == globex.id))
    CourseRunFactory(
        course=CourseFactory(key="B2B_SOURCE+T.1x", number="T.1x", title="T"),
        course_key="course-v1:GLOBEX+T.1x+1T1C2026",
        title="T",
        contract=contract,
    )
    db.session.commit()
    form = staff_client.get(f"/staff/organizations/{globex.id}/edit").get_data(as_text=True)
    assert "course runs whose edX keys are built from this key, so it can&#39;t change" in form
    assert "readonly" in form
    response = staff_client.post(
        f"/staff/organizations/{globex.id}/edit",
        data={"name": "Globex", "key": "OTHER", "keycloak_alias": "globex", "active": "y"},
    )
    assert response.status_code == 400
    assert "Contract course runs use this key, so it stays GLOBEX" in response.get_data(
        as_text=True
    )
    db.session.refresh(globex)
    assert globex.key == "GLOBEX" and globex.name == "Globex University"
    # Everything else can still change.
    ok = staff_client.post(
        f"/staff/organizations/{globex.id}/edit",
        data={"name": "Globex", "key": "GLOBEX", "keycloak_alias": "globex", "active": "y"},
    )
    assert ok.status_code == 302


def test_alias_of_a_linked_organization_is_fixed(staff_client: FlaskClient, db: Any) -> None:
    acme = org(db, "ACME")
    response = staff_client.post(
        f"/staff/organizations/{acme.id}/edit",
        data={"name": "Acme", "key": "ACME", "keycloak_alias": "acme2", "active": "y"},
    )
    assert response.status_code == 400
    assert "Linked to Keycloak: the alias stays acme." in response.get_data(as_text=True)
    db.session.refresh(acme)
    assert acme.keycloak_alias == "acme"


# --------------------------------------------------------------------------- (de)activation


def test_deactivate_confirms_the_impact_then_acts(staff_client: FlaskClient, db: Any) -> None:
    acme = org(db, "ACME")
    contracts = db.session.scalar(
        select(func.count(Contract.id)).where(
            Contract.organization_id == acme.id, Contract.active.is_(True)
        )
    )
    members = db.session.scalar(
        select(func.count(Membership.id)).where(Membership.organization_id == acme.id)
    )
    before = count(db, AuditEvent)
    page = staff_client.get(f"/staff/organizations/{acme.id}/deactivate")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f"<strong>{plural(contracts, 'active contract')}</strong>" in text
    assert f"<strong>{plural(members, 'learner')}</strong>" in text
    db.session.refresh(acme)
    assert acme.active and count(db, AuditEvent) == before  # GET changes nothing

    assert staff_client.post(f"/staff/organizations/{acme.id}/deactivate").status_code == 302
    db.session.refresh(acme)
    assert not acme.active
    [event] = events(db, "organization.deactivated")
    assert event.before == {"active": True} and event.after == {"active": False}

    assert staff_client.post(f"/staff/organizations/{acme.id}/reactivate").status_code == 302
    db.session.refresh(acme)
    assert acme.active
    assert len(events(db, "organization.activated")) == 1


# --------------------------------------------------------------------------- logo


def image_bytes(
    fmt: str, size: tuple[int, int] = (40, 20), mode: str = "RGB", **save: Any
) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (200, 30, 30) if mode == "RGB" else None).save(out, fmt, **save)
    return out.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that only claims its size: a decompression bomb's header."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def stored_logo(db: Any, org_id: int) -> tuple[bytes | None, str | None]:
    db.session.expire_all()
    found = db.session.get(Organization, org_id)
    return found.logo, found.logo_content_type


def test_logo_is_re_encoded_resized_and_served_as_png(staff_client: FlaskClient, db: Any) -> None:
    acme = org(db, "ACME")
    form = staff_client.get(f"/staff/organizations/{acme.id}/logo").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in form and "at most 2 MB" in form
    response = upload_logo(
        staff_client, acme.id, image_bytes("PNG", (1000, 500)), "logo.png", "image/png"
    )
    assert response.status_code == 302
    logo, content_type = stored_logo(db, acme.id)
    assert content_type == "image/png" and logo is not None and logo.startswith(PNG_SIGNATURE)
    assert Image.open(io.BytesIO(logo)).size == (256, 128)  # fits 256x256, aspect kept
    served = staff_client.get("/organizations/ACME/logo")
    assert served.status_code == 200 and served.content_type == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.data == logo
    [event] = events(db, "organization.logo_set")
    assert event.before["bytes"] == 0 and event.after["content_type"] == "image/png"
    assert event.after["bytes"] == len(logo)
    detail = staff_client.get(f"/staff/organizations/{acme.id}").get_data(as_text=True)
    assert "/organizations/ACME/logo" in detail


@pytest.mark.parametrize(
    ("fmt", "mode"), [("JPEG", "RGB"), ("WEBP", "RGB"), ("WEBP", "RGBA"), ("PNG", "P")]
)
def test_png_jpeg_and_webp_are_accepted(
    staff_client: FlaskClient, db: Any, fmt: str, mode: str
) -> None:
    acme = org(db, "ACME")
    data = image_bytes(fmt, (300, 300), mode=mode)
    assert (
        upload_logo(staff_client, acme.id, data, "logo.bin", "application/octet-stream").status_code
        == 302
    )
    logo, content_type = stored_logo(db, acme.id)
    assert content_type == "image/png" and logo is not None
    assert Image.open(io.BytesIO(logo)).size == (256, 256)


def test_metadata_and_appended_script_are_dropped(staff_client: FlaskClient, db: Any) -> None:
    acme = org(db, "ACME")
    exif = Image.Exif()
    exif[0x010E] = "secret-description"  # ImageDescription
    exif[0x0112] = 6  # Orientation: rotate 90 degrees
    jpeg = image_bytes("JPEG", (400, 200), exif=exif.tobytes())
    polyglot = jpeg + b"<script>alert(document.cookie)</script><?php system($_GET['c']); ?>"
    assert upload_logo(staff_client, acme.id, polyglot, "logo.jpg", "image/jpeg").status_code == 302
    logo, content_type = stored_logo(db, acme.id)
    assert logo is not None and content_type == "image/png"
    assert b"<script" not in logo and b"<?php" not in logo and b"secret-description" not in logo
    stored = Image.open(io.BytesIO(logo))
    assert stored.size == (128, 256)  # the EXIF orientation was applied, then dropped
    assert not stored.getexif()

    info = PngInfo()
    info.add_text("Comment", "<script>alert(1)</script>")
    with_text = image_bytes("PNG", (50, 50), pnginfo=info)
    assert upload_logo(staff_client, acme.id, with_text, "logo.png", "image/png").status_code == 302
    logo, _ = stored_logo(db, acme.id)
    assert logo is not None and b"<script" not in logo and b"tEXt" not in logo


@pytest.mark.parametrize(
    ("data", "name", "mimetype", "message"),
    [
        (
            b"<html><script>alert(1)</script></html>",
            "logo.png",
            "image/png",
            "not a PNG, JPEG or WebP",
        ),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "l.svg",
            "image/svg+xml",
            "not a PNG, JPEG or WebP",
        ),
        ("GIF", "logo.gif", "image/gif", "not a PNG, JPEG or WebP"),
        ("BMP", "logo.png", "image/png", "not a PNG, JPEG or WebP"),
        ("TRUNCATED", "logo.png", "image/png", "not a PNG, JPEG or WebP"),
        (b"", "logo.png", "image/png", "Choose an image file"),
        ("OVERSIZED", "logo.png", "image/png", "larger than 2 MB"),
        ("TALL", "logo.png", "image/png", "logos may have at most"),
        ("BOMB", "logo.png", "image/png", "too many pixels"),
    ],
)
def test_bad_logos_are_refused_and_nothing_is_stored(
    staff_client: FlaskClient, db: Any, data: Any, name: str, mimetype: str, message: str
) -> None:
    acme = org(db, "ACME")
    made = {
        "GIF": lambda: image_bytes("GIF"),
        "BMP": lambda: image_bytes("BMP"),
        "TRUNCATED": lambda: image_bytes("PNG", (300, 300))[:200],
        "OVERSIZED": lambda: image_bytes("PNG") + b"\x00" * (2 * 1024 * 1024),
        "TALL": lambda: png_header(5000, 5000),
        "BOMB": lambda: png_header(30000, 30000),
    }
    body = made[data]() if isinstance(data, str) else data
    response = upload_logo(staff_client, acme.id, body, name, mimetype)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert stored_logo(db, acme.id) == (None, None)
    assert events(db, "organization.logo_set") == []


def test_no_file_is_a_form_error(staff_client: FlaskClient, db: Any) -> None:
    acme = org(db, "ACME")
    response = staff_client.post(
        f"/staff/organizations/{acme.id}/logo", data={}, content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert "Choose an image file to upload." in response.get_data(as_text=True)


def test_upload_over_the_request_limit_is_a_clear_413(staff_client: FlaskClient, db: Any) -> None:
    acme = org(db, "ACME")
    body = b"\x00" * (9 * 1024 * 1024)  # raw, so the test client keeps it in memory
    response = staff_client.post(
        f"/staff/organizations/{acme.id}/logo",
        data=body,
        content_type="multipart/form-data; boundary=x",
    )
    assert response.status_code == 413
    assert stored_logo(db, acme.id) == (None, None)


def test_remove_logo_confirms_then_acts(staff_client: FlaskClient, db: Any) -> None:
    acme = org(db, "ACME")
    upload_logo(staff_client, acme.id, image_bytes("PNG"), "logo.png", "image/png")
    page = staff_client.get(f"/staff/organizations/{acme.id}/logo/remove")
    assert page.status_code == 200 and "Remove the logo of Acme Corporation?" in page.get_data(
        as_text=True
    )
    assert stored_logo(db, acme.id)[1] == "image/png"  # GET changes nothing
    assert staff_client.post(f"/staff/organizations/{acme.id}/logo/remove").status_code == 302
    assert stored_logo(db, acme.id) == (None, None)
    [event] = events(db, "organization.logo_removed")
    assert event.before["content_type"] == "image/png" and event.after["bytes"] == 0
    assert staff_client.get("/organizations/ACME/logo").status_code == 404


# --------------------------------------------------------------------------- Keycloak link


def test_link_records_a_job_and_refuses_conflicts(staff_client: FlaskClient, db: Any) -> None:
    local = OrganizationFactory(name="Initech", key="INITECH")
    db.session.commit()
    page = staff_client.get(f"/staff/organizations/{local.id}/keycloak/link")
    assert 'value="initech"' in page.get_data(as_text=True)  # the key in lower case suggested

    taken = staff_client.post(
        f"/staff/organizations/{local.id}/keycloak/link", data={"alias": "acme"}
    )
    assert taken.status_code == 409
    assert "Acme Corporation (ACME) already uses the Keycloak alias acme" in taken.get_data(
        as_text=True
    )
    bad = staff_client.post(f"/staff/organizations/{local.id}/keycloak/link", data={"alias": "a b"})
    assert bad.status_code == 400
    assert jobs_of(db, "keycloak.link_organization") == []

    ok = staff_client.post(
        f"/staff/organizations/{local.id}/keycloak/link", data={"alias": "Initech"}
    )
    assert ok.status_code == 302
    [job] = jobs_of(db, "keycloak.link_organization")
    assert job.payload == {"organization_id": local.id, "alias": "initech"}
    assert job.organization_id == local.id
    [event] = events(db, "job.queued")
    assert event.after["kind"] == "keycloak.link_organization"

    acme = org(db, "ACME")
    linked = staff_client.get(f"/staff/organizations/{acme.id}/keycloak/link")
    assert linked.status_code == 302  # already linked: back to the organization


def test_create_in_keycloak_and_pull_still_work(staff_client: FlaskClient, db: Any) -> None:
    local = OrganizationFactory(name="Initech", key="INITECH")
    db.session.commit()
    assert staff_client.post(f"/staff/organizations/{local.id}/keycloak").status_code == 302
    assert len(jobs_of(db, "keycloak.create_organization")) == 1
    acme = org(db, "ACME")
    assert staff_client.post(f"/staff/organizations/{acme.id}/keycloak").status_code == 302
    assert len(jobs_of(db, "keycloak.create_organization")) == 1  # already linked
    assert staff_client.post("/staff/keycloak/pull").status_code == 302
    assert len(jobs_of(db, "keycloak.pull_organizations")) == 1
    assert len(events(db, "job.queued")) == 2


# --------------------------------------------------------------------------- members


def test_detail_lists_members_with_pagination(staff_client: FlaskClient, db: Any) -> None:
    globex = org(db, "GLOBEX")
    users = [User(email=f"m{i:02d}@globex.example", name=f"Member {i:02d}") for i in range(55)]
    db.session.add_all(users)
    db.session.flush()
    db.session.add_all(
        Membership(user_id=u.id, organization_id=globex.id, source=MembershipSource.SSO)
        for u in users
    )
    db.session.commit()
    first = staff_client.get(f"/staff/organizations/{globex.id}").get_data(as_text=True)
    assert "m00@globex.example" in first and "Member 00" in first
    assert "m49@globex.example" in first and "m50@globex.example" not in first
    second = staff_client.get(f"/staff/organizations/{globex.id}?page=2").get_data(as_text=True)
    assert "m54@globex.example" in second and "m00@globex.example" not in second
    assert staff_client.get("/staff/organizations/999999").status_code == 404


def test_add_member_creates_the_user_and_pushes_to_keycloak(
    staff_client: FlaskClient, db: Any
) -> None:
    globex = org(db, "GLOBEX")
    response = staff_client.post(
        f"/staff/organizations/{globex.id}/members",
        data={"email": "  New.Person@Example.COM ", "is_manager": "y"},
    )
    assert response.status_code == 302
    user = db.session.scalar(select(User).where(User.email == "new.person@example.com"))
    assert user is not None
    membership = db.session.scalar(select(Membership).where(Membership.user_id == user.id))
    assert membership.organization_id == globex.id
    assert membership.source is MembershipSource.STAFF
    assert membership.keep_until_seen and membership.is_manager
    [job] = jobs_of(db, "keycloak.push_member")
    assert job.payload == {"user_id": user.id, "organization_id": globex.id}
    [event] = events(db, "organization.member_added")
    assert event.after["email"] == "new.person@example.com" and event.after["is_manager"]
    assert len(events(db, "user.created")) == 1

    again = staff_client.post(
        f"/staff/organizations/{globex.id}/members", data={"email": "NEW.PERSON@example.com"}
    )
    assert again.status_code == 409
    assert "new.person@example.com is already a member of Globex University." in again.get_data(
        as_text=True
    )
    assert len(jobs_of(db, "keycloak.push_member")) == 1


def test_add_member_to_an_unlinked_organization_records_no_job(
    staff_client: FlaskClient, db: Any
) -> None:
    local = OrganizationFactory(name="Initech", key="INITECH")
    db.session.commit()
    existing = db.session.scalar(select(User).where(User.email == "learner@globex.example"))
    response = staff_client.post(
        f"/staff/organizations/{local.id}/members", data={"email": "learner@globex.example"}
    )
    assert response.status_code == 302
    assert db.session.scalar(
        select(Membership).where(
            Membership.user_id == existing.id, Membership.organization_id == local.id
        )
    )
    assert jobs_of(db, "keycloak.push_member") == []
    assert events(db, "user.created") == []


@pytest.mark.parametrize(
    "email",
    [
        "",
        "   ",
        "not-an-email",
        "a@b",
        "<script>alert(1)</script>@example.com",
        "x@example.com' OR '1'='1",
        "ünï@example.com",
        "a" * 320 + "@example.com",
        "a\x00b@example.com",
    ],
)
def test_add_member_refuses_bad_emails_and_writes_nothing(
    staff_client: FlaskClient, db: Any, email: str
) -> None:
    globex = org(db, "GLOBEX")
    users, memberships, audit = count(db, User), count(db, Membership), count(db, AuditEvent)
    response = staff_client.post(f"/staff/organizations/{globex.id}/members", data={"email": email})
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert (
        "Enter an email address" in text
        or "longer than 320 characters" in text
        or "NUL" in text  # refused before the form sees it
    )
    assert "<script>alert(1)</script>" not in text
    assert (count(db, User), count(db, Membership), count(db, AuditEvent)) == (
        users,
        memberships,
        audit,
    )


def test_remove_member_confirms_the_impact_then_acts(staff_client: FlaskClient, db: Any) -> None:
    acme = org(db, "ACME")
    admin = db.session.scalar(select(User).where(User.email == "admin@acme.example"))
    auto_or_managed = db.session.scalar(
        select(func.count(Contract.id)).where(
            Contract.organization_id == acme.id,
            Contract.active.is_(True),
            Contract.membership_type.in_([MembershipType.AUTO, MembershipType.MANAGED]),
        )
    )
    audit = count(db, AuditEvent)
    page = staff_client.get(f"/staff/organizations/{acme.id}/members/{admin.id}/remove")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f"lose access to <strong>{plural(auto_or_managed, 'active contract')}</strong>" in text
    assert (
        "stop being an org admin" in text and "removes them from the Keycloak organization" in text
    )
    assert count(db, AuditEvent) == audit and count(db, Membership) == 1  # GET changes nothing

    response = staff_client.post(f"/staff/organizations/{acme.id}/members/{admin.id}/remove")
    assert response.status_code == 302
    assert count(db, Membership) == 0
    [job] = jobs_of(db, "keycloak.remove_member")
    assert job.payload == {"user_id": admin.id, "organization_id": acme.id}
    [event] = events(db, "organization.member_removed")
    assert event.before["email"] == "admin@acme.example" and event.before["is_manager"]
    assert event.after is None
    gone = staff_client.post(f"/staff/organizations/{acme.id}/members/{admin.id}/remove")
    assert gone.status_code == 404


def test_mark_and_unmark_org_admin(staff_client: FlaskClient, db: Any) -> None:
    acme = org(db, "ACME")
    admin = db.session.scalar(select(User).where(User.email == "admin@acme.example"))
    path = f"/staff/organizations/{acme.id}/members/{admin.id}/admin"
    membership = db.session.scalar(select(Membership).where(Membership.user_id == admin.id))

    assert staff_client.post(path, data={"is_manager": "0"}).status_code == 302
    db.session.refresh(membership)
    assert not membership.is_manager
    [revoked] = events(db, "organization.admin_revoked")
    assert revoked.before["is_manager"] and not revoked.after["is_manager"]

    assert staff_client.post(path, data={"is_manager": "1"}).status_code == 302
    db.session.refresh(membership)
    assert membership.is_manager
    assert len(events(db, "organization.admin_granted")) == 1

    audit = count(db, AuditEvent)
    for bad in ["", "yes", "<script>", "1; DROP TABLE memberships"]:
        page = staff_client.post(path, data={"is_manager": bad}, follow_redirects=True)
        assert "Choose whether this member is an org admin." in page.get_data(as_text=True)
    assert staff_client.post(path, data={"is_manager": "1"}).status_code == 302  # no change
    assert count(db, AuditEvent) == audit
    assert (
        staff_client.post(
            f"/staff/organizations/{acme.id}/members/999999/admin", data={"is_manager": "1"}
        ).status_code
        == 404
    )


# --------------------------------------------------------------------------- jobs against Keycloak


@pytest.fixture
def kc(keycloak_portal: Any) -> Any:
    """The demo data on a portal whose jobs reach a Keycloak emulator (``kc.run()`` runs them)."""
    return keycloak_portal


def kc_members(org_id: str) -> set[str]:
    from portal.integrations.keycloak_admin import admin_client

    client = admin_client()
    response = client._call("GET", f"organizations/{org_id}/members", max=-1)
    return {m["email"] for m in response.json()}


def test_member_add_and_remove_jobs_reach_keycloak(kc: Any) -> None:
    from portal.extensions import db
    from portal.services import organization_members as service

    globex = org(db, "GLOBEX")
    assert globex.keycloak_id
    service.add_member(globex, "learner@globex.example")
    db.session.commit()
    kc.run()
    assert "learner@globex.example" in kc_members(globex.keycloak_id)

    user = db.session.scalar(select(User).where(User.email == "learner@globex.example"))
    membership = db.session.scalar(select(Membership).where(Membership.user_id == user.id))
    service.remove_member(membership)
    db.session.commit()
    kc.run()
    db.session.expire_all()
    [job] = jobs_of(db, "keycloak.remove_member")
    assert job.state is JobState.SUCCEEDED, job.last_error
    assert "learner@globex.example" not in kc_members(globex.keycloak_id)
    assert len(events(db, "keycloak.member_removed")) == 1

    # Not a member any more: the same job again is still done (404 = done).
    from portal.jobs import record_job

    again = record_job("keycloak.remove_member", dict(job.payload))
    db.session.commit()
    kc.run()
    db.session.expire_all()
    assert db.session.get(BackgroundJob, again.id).state is JobState.SUCCEEDED


def test_link_job_finds_the_organization_by_alias(kc: Any) -> None:
    from portal.extensions import db
    from portal.services import organizations as service

    acme = org(db, "ACME")
    acme_id = acme.keycloak_id
    acme.keycloak_id = None
    acme.keycloak_alias = None
    db.session.commit()
    service.request_keycloak_link(acme, "acme")
    db.session.commit()
    kc.run()
    db.session.expire_all()
    acme = org(db, "ACME")
    assert acme.keycloak_id == acme_id and acme.keycloak_alias == "acme"
    [event] = events(db, "keycloak.organization_linked")
    assert event.before == {"keycloak_id": None, "keycloak_alias": None}

    local = OrganizationFactory(name="Nowhere", key="NOWHERE")
    db.session.commit()
    service.request_keycloak_link(local, "no-such-alias")
    db.session.commit()
    kc.run()
    db.session.expire_all()
    failed = [j for j in jobs_of(db, "keycloak.link_organization") if j.organization_id == local.id]
    assert failed[0].state is JobState.FAILED and failed[0].attempts == 1
    assert "no organization with the alias 'no-such-alias'" in (failed[0].last_error or "")
    assert org(db, "NOWHERE").keycloak_id is None


# --------------------------------------------------------------------------- authorization

ROUTES = [
    ("get", "/staff/organizations"),
    ("post", "/staff/keycloak/pull"),
    ("get", "/staff/organizations/new"),
    ("post", "/staff/organizations/new"),
    ("get", "/staff/organizations/1"),
    ("get", "/staff/organizations/1/edit"),
    ("post", "/staff/organizations/1/edit"),
    ("get", "/staff/organizations/1/deactivate"),
    ("post", "/staff/organizations/1/deactivate"),
    ("post", "/staff/organizations/1/reactivate"),
    ("get", "/staff/organizations/1/logo"),
    ("post", "/staff/organizations/1/logo"),
    ("get", "/staff/organizations/1/logo/remove"),
    ("post", "/staff/organizations/1/logo/remove"),
    ("post", "/staff/organizations/1/keycloak"),
    ("get", "/staff/organizations/1/keycloak/link"),
    ("post", "/staff/organizations/1/keycloak/link"),
    ("post", "/staff/organizations/1/keycloak/resync"),
    ("post", "/staff/organizations/1/members"),
    ("get", "/staff/organizations/1/members/1/remove"),
    ("post", "/staff/organizations/1/members/1/remove"),
    ("post", "/staff/organizations/1/members/1/admin"),
]


def test_the_route_list_covers_every_route_of_the_module(app: Flask) -> None:
    listed = {
        (method.upper(), path.replace("/1", "/<int>").replace("/<int>/members/<int>", "/m"))
        for method, path in ROUTES
    }
    found = set()
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if view.__module__ != "portal.staff.organizations":
            continue
        path = rule.rule.replace("<int:org_id>", "<int>").replace("<int:user_id>", "<int>")
        path = path.replace("/<int>/members/<int>", "/m")
        found |= {(m, path) for m in rule.methods or () if m in ("GET", "POST")}
    assert found == listed


@pytest.fixture
def org_admin(db: Any, make_user: Callable[..., User]) -> User:
    user = make_user()
    MembershipFactory(
        user=user,
        organization=OrganizationFactory(name="Umbrella", key="UMB"),
        source=MembershipSource.STAFF,
        manager=True,
    )
    db.session.commit()
    return user


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_learners_and_org_admins_get_403(
    client: FlaskClient,
    login_as: Callable[..., Any],
    org_admin: User,
    db: Any,
    method: str,
    path: str,
) -> None:
    before = (count(db, AuditEvent), count(db, BackgroundJob), count(db, Organization))
    login_as("learner")
    assert getattr(client, method)(path).status_code == 403
    login_as(org_admin)
    assert getattr(client, method)(path).status_code == 403
    assert (count(db, AuditEvent), count(db, BackgroundJob), count(db, Organization)) == before


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_anonymous_is_sent_to_sign_in(client: FlaskClient, method: str, path: str) -> None:
    response = getattr(client, method)(path)
    assert response.status_code == 302
    assert "/auth/login" in response.location


def test_changes_need_a_csrf_token(csrf_staff_client: FlaskClient) -> None:
    from portal.extensions import db

    response = csrf_staff_client.post("/staff/organizations/new", data=new_org_data())
    assert response.status_code == 400
    assert count(db, Organization) == 0
    form = csrf_staff_client.get("/staff/organizations/new").get_data(as_text=True)
    assert 'name="csrf_token"' in form
