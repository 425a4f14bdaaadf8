"""Every job kind the portal records, in one place.

A kind is recorded with ``record_job(JobKind.X, ...)`` by a service and run by the handler registered
with ``@job_handler(JobKind.X)`` in ``portal/tasks/``: search for the member's name to go from a call
site to its handler. The values are stored in ``background_jobs.kind`` and must never change.
"""

from __future__ import annotations

from enum import StrEnum


class JobKind(StrEnum):
    # portal/tasks/codes.py
    CODES_GENERATE = "codes.generate"
    CODES_ASSIGN_BULK = "codes.assign_bulk"
    # portal/tasks/email.py
    EMAIL_SEND = "email.send"
    # portal/tasks/keycloak.py
    KEYCLOAK_PUSH_MEMBER = "keycloak.push_member"
    KEYCLOAK_REMOVE_MEMBER = "keycloak.remove_member"
    KEYCLOAK_RESYNC_MEMBER = "keycloak.resync_member"
    KEYCLOAK_RESYNC_ORGANIZATION = "keycloak.resync_organization"
    KEYCLOAK_CREATE_ORGANIZATION = "keycloak.create_organization"
    KEYCLOAK_LINK_ORGANIZATION = "keycloak.link_organization"
    KEYCLOAK_PULL_ORGANIZATIONS = "keycloak.pull_organizations"
    # portal/tasks/openedx.py
    OPENEDX_CREATE_CONTRACT_RUN = "openedx.create_contract_run"
    OPENEDX_UPDATE_CONTRACT_RUN = "openedx.update_contract_run"
    # portal/tasks/openedx_enrollments.py
    OPENEDX_ENROLL = "openedx.enroll"
    OPENEDX_UNENROLL = "openedx.unenroll"
    # portal/tasks/outcomes.py
    OPENEDX_SYNC_OUTCOMES = "openedx.sync_outcomes"
    # portal/tasks/refunds.py
    CYBERSOURCE_REFUND = "cybersource.refund"
    # portal/tasks/scheduled.py
    SCHEDULED_TASK = "scheduler.task"
    # portal/tasks/system.py
    SYSTEM_PING = "system.ping"
