"""Paying for an order through CyberSource Secure Acceptance (b2b-rules section 7).

Access is granted only after a *verified* approval. The same signed response reaches us twice, through
the learner's browser (``channel="return"``) and server to server (``channel="notification"``), in
either order and possibly repeated; both go through :func:`handle_response`, which:

* refuses a forged response (bad or missing signature, a malformed or incomplete ``signed_field_names``,
  a field outside the signature) and records ``payment.forged``, changing nothing else;
* finds the order by ``req_reference_number`` and locks its row, so the two deliveries serialize;
* records one :class:`Payment` per CyberSource ``transaction_id``: a repeat is a no-op
  (``payment.duplicate``), checked under the order row lock. The unique key (provider,
  transaction_id) is the last guard: should two deliveries still race, the loser fails, rolls back,
  and CyberSource's retry is then a duplicate;
* ACCEPT: the signed amount and currency must equal the order's total (else ``payment.refused``),
  then :func:`fulfil_order`; DECLINE and ERROR close the order as declined, CANCEL as cancelled;
  REVIEW leaves it pending (a later final decision for the same transaction replaces the review).

**An approval for an order that is no longer pending** (declined or cancelled from another tab, or
paid twice) does not grant anything: the money trail is kept (the Payment row) and the audit event
``payment.conflict`` flags it for staff, who refund it or enroll the learner by hand. The learner is
told so in plain words. Nothing is ever granted twice or silently.

**An approval for a pending order whose access ended** (b2b-rules section 10): fulfilment re-checks,
under the contract lock that enrolling and revoking take (taken here before the order row, the order
``orders.close_pending_orders`` takes them in), that the seat, contract, organization and runs still
allow it. If not, the order is cancelled with the reason and nobody is enrolled
(``payment.access_ended``). Either way the order is flagged "paid, needs refund"
(``orders.flag_refund``) and listed for staff on ``/staff/refunds``.

Every outcome writes an audit event ``payment.<outcome>``. Services flush; the caller commits.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import current_app, url_for
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from portal.extensions import db
from portal.integrations.cybersource import (
    Credentials,
    ForgedMessage,
    request_fields,
    verify_response,
)
from portal.models import Contract, Order, OrderState, Payment, PaymentDecision
from portal.services.audit import record_event
from portal.services.locks import lock_contract
from portal.services.orders import (
    cancel_pending,
    close_order,
    flag_refund,
    fulfil_order,
    fulfilment_refusal,
)

PROVIDER = "cybersource"
CHANNELS = ("return", "notification")


class PaymentOutcome(enum.StrEnum):
    ACCEPTED = "accepted"  # approved and the order fulfilled now
    DECLINED = "declined"
    ERROR = "error"  # CyberSource could not process it; the order is declined
    CANCELLED = "cancelled"
    REVIEW = "review"  # held for review; the order stays pending
    DUPLICATE = "duplicate"  # this transaction was handled before: nothing changed
    CONFLICT = "conflict"  # approved, but the order was no longer pending: recorded, not granted
    ACCESS_ENDED = "access_ended"  # approved, but access had ended: cancelled, needs refund
    REFUSED = "refused"  # signed, but not for an order we can take it for (unknown, wrong amount)
    FORGED = "forged"  # not signed by CyberSource: nothing changed


class CheckoutState(enum.StrEnum):
    """What the learner's checkout and result pages say about an order."""

    PAYABLE = "payable"  # pending, nothing in flight: show the payment form
    REVIEW = "review"
    APPROVED = "approved"
    DECLINED = "declined"
    ERROR = "error"
    CANCELLED = "cancelled"
    CONFLICT = "conflict"
    ACCESS_ENDED = "access_ended"  # paid after access ended: not enrolled, to be refunded
    CLOSED = "closed"  # cancelled by the portal because access ended, before any payment
    REFUNDED = "refunded"


@dataclass(frozen=True)
class Outcome:
    status: PaymentOutcome
    order: Order | None = None
    payment: Payment | None = None
    message: str = ""

    @property
    def verified(self) -> bool:
        return self.status is not PaymentOutcome.FORGED


def _credentials() -> Credentials:
    settings = current_app.config["PORTAL"]
    return Credentials(
        profile_id=settings.cybersource_profile_id,
        access_key=settings.cybersource_access_key,
        secret_key=settings.cybersource_secret_key,
    )


def checkout_fields(order: Order) -> tuple[str, dict[str, str]]:
    """The payment page's URL and the signed fields the learner's browser posts to it.

    The receipt and notification URLs are absolute, on ``PUBLIC_BASE_URL``, and signed, so the
    payment page cannot be pointed elsewhere. Needs a request context (it builds our URLs)."""
    settings = current_app.config["PORTAL"]
    base = settings.public_base_url.rstrip("/")
    fields = request_fields(
        _credentials(),
        reference=order.reference,
        amount=order.total,
        currency=order.currency,
        receipt_url=base + url_for("checkout.receipt"),
        notify_url=base + url_for("checkout.notify"),
    )
    return settings.cybersource_url, fields


def _plain_fields(fields: Mapping[str, str]) -> dict[str, str]:
    """A form post as a plain dict; a field sent twice makes the message forged."""
    if isinstance(fields, MultiDict):
        if any(len(values) > 1 for values in fields.listvalues()):
            raise ForgedMessage("a field was sent more than once")
        return dict(fields.items())
    return dict(fields)


MAX_AMOUNT = Decimal("10000000000")  # 10^10: NUMERIC(12, 2) holds less


def _amount(raw: str | None) -> Decimal | None:
    try:
        value = Decimal(raw or "")
    except InvalidOperation:
        return None
    # The database keeps amounts as NUMERIC(12, 2): anything beyond is malformed, not storable.
    if not value.is_finite() or abs(value) >= MAX_AMOUNT:
        return None
    return value


def _organization_id(order: Order) -> int | None:
    contract = db.session.get(Contract, order.contract_id)
    return contract.organization_id if contract else None


def _audit(
    outcome: PaymentOutcome,
    channel: str,
    *,
    order: Order | None = None,
    signed: Mapping[str, str] | None = None,
    reason: str = "",
    extra: Mapping[str, Any] | None = None,
) -> None:
    after: dict[str, Any] = {"channel": channel}
    if signed is not None:
        after.update(
            {
                key: signed.get(key)
                for key in (
                    "decision",
                    "reason_code",
                    "transaction_id",
                    "req_reference_number",
                    "req_amount",
                    "req_currency",
                    "auth_amount",
                )
                if key in signed
            }
        )
    if order is not None:
        after.update(reference=order.reference, order_state=order.state.value)
    after.update(extra or {})
    record_event(
        f"payment.{outcome.value}",
        "order" if order is not None else "payment",
        order.id if order is not None else None,
        organization_id=_organization_id(order) if order is not None else None,
        after=after,
        reason=reason,
    )


@dataclass(frozen=True)
class _Checked:
    """The fields of a signed response that were found usable for its order."""

    decision: PaymentDecision
    transaction_id: str
    amount: Decimal
    currency: str


def handle_response(fields: Mapping[str, str], *, channel: str) -> Outcome:
    """Verify and apply one Secure Acceptance response (see the module docstring)."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    try:
        signed = verify_response(_plain_fields(fields), _credentials().secret_key)
    except ForgedMessage as exc:
        return _forged(fields, channel, exc)
    reference = signed["req_reference_number"]
    # The contract lock first (shared, as enrolling takes it), then the order row: the order in
    # which revoking a seat or closing a contract takes them, so neither waits on the other twice.
    contract_id = db.session.scalar(select(Order.contract_id).where(Order.reference == reference))
    if contract_id is not None:
        lock_contract(contract_id, shared=True)
    order = db.session.scalar(
        select(Order)
        .where(Order.reference == reference)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if order is None:
        return _refuse(channel, signed, f"no order has the reference {reference[:64]!r}")
    checked = _check(signed, order)
    if isinstance(checked, str):
        return _refuse(channel, signed, checked, order)
    return _record(order, signed, checked, channel)


def _forged(fields: Mapping[str, str], channel: str, exc: ForgedMessage) -> Outcome:
    """A response not signed by CyberSource: audited with the reference it claims, nothing else."""
    claimed = str(fields.get("req_reference_number", ""))[:64]
    _audit(
        PaymentOutcome.FORGED,
        channel,
        reason=str(exc),
        extra={"claimed_reference": claimed},
    )
    return Outcome(PaymentOutcome.FORGED, message=str(exc))


def _refuse(
    channel: str, signed: Mapping[str, str], reason: str, order: Order | None = None
) -> Outcome:
    _audit(PaymentOutcome.REFUSED, channel, order=order, signed=signed, reason=reason)
    return Outcome(PaymentOutcome.REFUSED, order=order, message=reason)


def _check(signed: Mapping[str, str], order: Order) -> _Checked | str:
    """The usable fields of a signed response for ``order``, or why it is refused."""
    if signed.get("req_profile_id", _credentials().profile_id) != _credentials().profile_id:
        return "the response is for another Secure Acceptance profile"
    try:
        decision = PaymentDecision(signed["decision"])
    except ValueError:
        return f"unknown decision {signed['decision'][:32]!r}"
    transaction_id = signed.get("transaction_id", "")
    if not transaction_id or len(transaction_id) > 64:
        return "the response has no usable transaction_id"
    amount = _amount(signed["req_amount"])
    currency = signed["req_currency"]
    if amount is None or len(currency) != 3:
        return "the response's amount or currency is malformed"
    if decision is PaymentDecision.ACCEPT:
        authorized = _amount(signed.get("auth_amount", signed["req_amount"]))
        if amount != order.total or authorized != order.total or currency != order.currency:
            return (
                f"paid {signed.get('auth_amount', signed['req_amount'])} {currency}, "
                f"the order is {order.total} {order.currency}"
            )
    return _Checked(decision, transaction_id, amount, currency)


def _record(order: Order, signed: Mapping[str, str], checked: _Checked, channel: str) -> Outcome:
    """Record the transaction's Payment (a repeat changes nothing) and apply its decision."""
    decision = checked.decision
    payment = db.session.scalar(
        select(Payment).where(
            Payment.provider == PROVIDER, Payment.transaction_id == checked.transaction_id
        )
    )
    message = signed.get("message", "")
    if payment is not None and not (
        payment.decision is PaymentDecision.REVIEW
        and decision is not PaymentDecision.REVIEW
        and payment.order_id == order.id
    ):
        _audit(
            PaymentOutcome.DUPLICATE,
            channel,
            order=order,
            signed=signed,
            reason="this transaction was handled before; nothing changed",
        )
        return Outcome(PaymentOutcome.DUPLICATE, order=order, payment=payment, message=message)
    if payment is None:
        payment = Payment(
            provider=PROVIDER, transaction_id=checked.transaction_id, order_id=order.id
        )
        db.session.add(payment)
    # A new transaction, or the final decision on one held for review.
    payment.decision = decision
    payment.amount = checked.amount
    payment.currency = checked.currency
    payment.message = message
    payment.raw = dict(signed)
    db.session.flush()

    status = _apply(order, decision, message)
    _audit(
        status,
        channel,
        order=order,
        signed=signed,
        reason=message,
        extra={"payment_id": payment.id},
    )
    return Outcome(status, order=order, payment=payment, message=message)


def _apply(order: Order, decision: PaymentDecision, message: str) -> PaymentOutcome:
    if decision is PaymentDecision.ACCEPT:
        return _accept(order)
    if decision is PaymentDecision.REVIEW:
        return PaymentOutcome.REVIEW
    if decision is PaymentDecision.CANCEL:
        close_order(order.id, OrderState.CANCELLED, message or "the learner cancelled the payment")
        return PaymentOutcome.CANCELLED
    close_order(order.id, OrderState.DECLINED, message or f"payment {decision.value.lower()}")
    return PaymentOutcome.ERROR if decision is PaymentDecision.ERROR else PaymentOutcome.DECLINED


def _accept(order: Order) -> PaymentOutcome:
    """A verified approval: fulfil the order if it is pending and still allowed; otherwise grant
    nothing, keep the payment, and flag the order "paid, needs refund" with the reason."""
    if order.state is OrderState.PENDING:
        refusal = fulfilment_refusal(order)
        if refusal is None:
            if fulfil_order(order.id):
                return PaymentOutcome.ACCEPTED
        else:
            contract = db.session.get(Contract, order.contract_id)
            assert contract is not None
            cancel_pending(order, contract, refusal)
            flag_refund(order, f"paid after access ended: {refusal}")
            return PaymentOutcome.ACCESS_ENDED
    flag_refund(order, _conflict_reason(order))
    return PaymentOutcome.CONFLICT


def _conflict_reason(order: Order) -> str:
    if order.state is OrderState.FULFILLED:
        return "paid again for an order already paid and fulfilled"
    if order.close_reason:
        return f"paid after the order was cancelled because access ended: {order.close_reason}"
    return f"paid after the order was {order.state.value}"


def checkout_state(order: Order) -> CheckoutState:
    """What the learner is told about ``order``, from the database alone (never from a request)."""
    decisions = list(
        db.session.scalars(
            select(Payment.decision).where(Payment.order_id == order.id).order_by(Payment.id.desc())
        )
    )
    if order.state is OrderState.FULFILLED:
        return CheckoutState.APPROVED
    if order.state is OrderState.REFUNDED:
        return CheckoutState.REFUNDED
    if order.state in (OrderState.DECLINED, OrderState.CANCELLED):
        if PaymentDecision.ACCEPT in decisions:
            return CheckoutState.ACCESS_ENDED if order.close_reason else CheckoutState.CONFLICT
        if order.state is OrderState.CANCELLED:
            return CheckoutState.CLOSED if order.close_reason else CheckoutState.CANCELLED
        if decisions and decisions[0] is PaymentDecision.ERROR:
            return CheckoutState.ERROR
        return CheckoutState.DECLINED
    if PaymentDecision.REVIEW in decisions:
        return CheckoutState.REVIEW
    return CheckoutState.PAYABLE
