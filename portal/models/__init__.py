"""The whole domain model; importing this package registers every table on ``Base.metadata``."""

from portal.models.access import ApiToken, OrganizationApiToken, OutboxMessage
from portal.models.audit import AuditEvent
from portal.models.base import Base, utcnow
from portal.models.bulk_assignments import BulkAssignmentRow
from portal.models.business import (
    Notice,
    NoticeKind,
    ReportFrequency,
    ReportSubscription,
    ScheduledRun,
)
from portal.models.codes import CodeRedemption, EnrollmentCode, RedemptionType, Seat, SeatSource
from portal.models.commerce import (
    Order,
    OrderLine,
    OrderState,
    Payment,
    PaymentDecision,
    Refund,
    RefundAccess,
    RefundState,
)
from portal.models.contracts import Contract, ContractProgram, MembershipType
from portal.models.courseware import (
    RESTRICTION_B2B,
    Course,
    CourseRun,
    EdxRunState,
    Pacing,
    Program,
    ProgramCourse,
)
from portal.models.enrollments import EdxSyncState, Enrollment
from portal.models.jobs import BackgroundJob, JobState
from portal.models.organizations import Membership, MembershipSource, Organization
from portal.models.outcomes import (
    CERTIFICATE_EARNED,
    LearningOutcome,
    OutcomeStatus,
    OutcomeSync,
    OutcomeSyncState,
    outcome_status_of,
)
from portal.models.usage import ContractRunEnrollments, ContractSeatDay
from portal.models.users import User, normalize_email

__all__ = [
    "CERTIFICATE_EARNED",
    "RESTRICTION_B2B",
    "ApiToken",
    "AuditEvent",
    "BackgroundJob",
    "Base",
    "BulkAssignmentRow",
    "CodeRedemption",
    "Contract",
    "ContractProgram",
    "ContractRunEnrollments",
    "ContractSeatDay",
    "Course",
    "CourseRun",
    "EdxRunState",
    "EdxSyncState",
    "Enrollment",
    "EnrollmentCode",
    "JobState",
    "LearningOutcome",
    "Membership",
    "MembershipSource",
    "MembershipType",
    "Notice",
    "NoticeKind",
    "Order",
    "OrderLine",
    "OrderState",
    "Organization",
    "OrganizationApiToken",
    "OutboxMessage",
    "OutcomeStatus",
    "OutcomeSync",
    "OutcomeSyncState",
    "Pacing",
    "Payment",
    "PaymentDecision",
    "Program",
    "ProgramCourse",
    "RedemptionType",
    "Refund",
    "RefundAccess",
    "RefundState",
    "ReportFrequency",
    "ReportSubscription",
    "ScheduledRun",
    "Seat",
    "SeatSource",
    "User",
    "normalize_email",
    "outcome_status_of",
    "utcnow",
]
