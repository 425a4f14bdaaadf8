"""The contract lock: every change to a contract's seats, codes or runs takes it first, so limits
hold under concurrent requests (b2b-rules section 4)."""

from __future__ import annotations

from sqlalchemy import select

from portal.core.domain_errors import NotFound
from portal.extensions import db
from portal.models import Contract


def lock_contract(contract_id: int, *, shared: bool = False) -> Contract:
    """The contract row, locked until the transaction ends (a no-op lock on SQLite, which
    serializes writers anyway).

    The exclusive lock (``FOR NO KEY UPDATE``) is for whatever changes seats, codes or the contract:
    its holders take turns. ``shared`` (``FOR SHARE``) is for work that only relies on them staying
    as they are while it runs, such as enrolling a learner who already holds a seat: any number of
    those run at once, and an exclusive holder waits for them (and they for it). Neither blocks
    the foreign-key checks of rows that merely point at the contract."""
    contract = db.session.scalar(
        select(Contract)
        .where(Contract.id == contract_id)
        .with_for_update(read=shared, key_share=not shared)
        .execution_options(populate_existing=True)
    )
    if contract is None:
        raise NotFound("That contract does not exist.")
    return contract
