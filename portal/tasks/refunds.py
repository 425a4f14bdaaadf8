"""``cybersource.refund``: make the refund staff started (``services.order_refunds``) in CyberSource.

The job reloads its refund and does nothing unless it is still ``requested``. It calls
``POST /pts/v2/payments/{transaction_id}/refunds`` with the refund's ``request_key`` as
``clientReferenceInformation.code``, holding no database lock meanwhile, then records the answer
under the locks (``order_refunds.refund_succeeded``), which checks the state again: a retry after a
crash between CyberSource's answer and our commit asks for the same refund again and gets it,
never a second one.

Classification: 5xx (502 SERVER_ERROR), 429, timeouts and network errors are retried with backoff
(the refund stays ``requested``); a 4xx is CyberSource's refusal (400 INVALID_REQUEST, 401 for a
signature it refused): the job fails at once and the refund shows ``failed`` with CyberSource's
message. A job that runs out of attempts fails the refund the same way, through the failure hook.
"""

from __future__ import annotations

from portal.extensions import db
from portal.integrations.cybersource_rest import CyberSourceError, rest_client
from portal.jobs.errors import PermanentJobError, TransientJobError
from portal.jobs.kinds import JobKind
from portal.jobs.registry import JobContext, job_handler
from portal.models import BackgroundJob, Payment, Refund, RefundAccess, RefundState, User
from portal.services import order_refunds


def _refund_failed(job: BackgroundJob, message: str) -> None:
    refund_id = (job.payload or {}).get("refund_id")
    if isinstance(refund_id, int) and not isinstance(refund_id, bool):
        order_refunds.refund_failed(refund_id, message)


@job_handler(JobKind.CYBERSOURCE_REFUND, on_failure=_refund_failed)
def refund_payment(ctx: JobContext) -> None:
    refund = db.session.get(Refund, ctx.arg("refund_id"))
    if refund is None:
        raise PermanentJobError(f"refund #{ctx.arg('refund_id')} does not exist")
    if refund.state is RefundState.SUCCEEDED:
        ctx.set_step("refunded already")
        return
    if refund.state is RefundState.FAILED:
        raise PermanentJobError(
            f"refund #{refund.id} failed already ({refund.error}); start a new refund from the order"
        )
    if refund.access is RefundAccess.REVOKE and (
        refund.requested_by_id is None or db.session.get(User, refund.requested_by_id) is None
    ):
        raise PermanentJobError(
            "the staff member who asked to revoke the seat no longer exists: start a new refund"
        )
    payment = db.session.get(Payment, refund.payment_id)
    assert payment is not None
    refund_id, transaction_id = refund.id, payment.transaction_id
    code, amount, currency = refund.request_key, refund.amount, refund.currency
    ctx.set_step("asking CyberSource")  # commits: no transaction stays open during the call
    try:
        answer = rest_client().refund_payment(
            transaction_id, code=code, amount=amount, currency=currency
        )
    except CyberSourceError as exc:
        message = f"CyberSource: {exc.message}"
        if exc.transient:
            raise TransientJobError(message, retry_after=exc.retry_after) from exc
        raise PermanentJobError(message) from exc
    order_refunds.refund_succeeded(
        refund_id,
        order_refunds.ProviderRefund(
            refund_id=answer.id, status=answer.status, reconciliation_id=answer.reconciliation_id
        ),
    )
