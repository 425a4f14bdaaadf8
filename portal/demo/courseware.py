"""The demo contracts' courseware: contract runs whose creation jobs clone the source runs in
edX (the Open edX emulator in demo mode) once committed."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Contract, ContractProgram, Course, CourseRun, Program
from portal.services import contract_runs

# Courseware of each demo contract: (contract slug, course keys, program keys).
CONTRACT_COURSEWARE: dict[str, tuple[list[str], list[str]]] = {
    "acme-data-academy": ([], ["program-v1:B2B+DATA-LEAD"]),
    "acme-leadership": (["B2B_SOURCE+LEAD.201x"], []),
    "globex-open-seats": (["B2B_SOURCE+DS.101x", "B2B_SOURCE+PY.110x"], []),
    "globex-certificate": (["B2B_SOURCE+ETH.150x"], []),
}


def seed_contract_runs() -> int:
    """Runs for each demo contract that has none yet; how many were made."""
    made = 0
    for slug, (course_keys, program_keys) in CONTRACT_COURSEWARE.items():
        contract = db.session.scalar(select(Contract).where(Contract.slug == slug))
        if contract is None:
            continue
        has_runs = db.session.scalar(
            select(func.count(CourseRun.id)).where(CourseRun.contract_id == contract.id)
        )
        if has_runs:
            continue
        for course_key in course_keys:
            course = db.session.scalar(select(Course).where(Course.key == course_key))
            if course is not None:
                contract_runs.add_course(contract.id, course.id)
                made += 1
        for program_key in program_keys:
            made += _add_program(contract, program_key)
    return made


def _add_program(contract: Contract, program_key: str) -> int:
    """The program's runs on ``contract`` (relinking it if it was linked without runs)."""
    program = db.session.scalar(select(Program).where(Program.key == program_key))
    if program is None:
        return 0
    linked = db.session.scalar(
        select(ContractProgram).where(
            ContractProgram.contract_id == contract.id,
            ContractProgram.program_id == program.id,
        )
    )
    if linked is not None:
        db.session.delete(linked)
        db.session.flush()
    return len(contract_runs.add_program(contract.id, program.id).runs)
