"""Staff forms for courses, runs, programs, edX imports and API tokens.

Each form checks everything it can before the view writes anything; what only the database can
decide (a key someone else just took) comes back from the view as an error on the key field.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from wtforms import (
    BooleanField,
    Field,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    Optional,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from portal.core.forms import TEXT, PortalForm, Text, date_field, key_field, strip, title_field
from portal.core.text import lazy_gettext as _l
from portal.models import Course, CourseRun, Pacing
from portal.models.courseware import RESTRICTION_B2B, RESTRICTION_B2C
from portal.services.courseware import COURSE_KEY_RE, PROGRAM_KEY_RE, RUN_KEY_RE, split_run_key

RESTRICTION_CHOICES = [
    SelectChoice(RESTRICTION_B2B, _l("Custom B2B Enterprise (contract runs)")),
    SelectChoice(RESTRICTION_B2C, _l("Custom B2C")),
]


class CourseForm(PortalForm):
    key = key_field(
        _l("Course key"),
        COURSE_KEY_RE,
        missing=_l("Enter the course key."),
        wrong=_l(
            "Use ORG+NUMBER, e.g. B2B_SOURCE+DS.101x: letters, digits, '_', '.', '-' "
            "and '~' on each side of one '+'."
        ),
        max_length=200,
        description=_l("ORG+NUMBER as in edX, e.g. B2B_SOURCE+DS.101x."),
    )
    number = StringField(
        _l("Number"),
        [Optional(), Length(max=100)],
        filters=[strip],
        description=_l("The part after '+'; left empty, it is taken from the key."),
    )
    title = title_field()
    description = TextAreaField(_l("Description"), [Optional(), Length(max=10_000), *TEXT])

    def __init__(self, *args: Any, course: Course | None = None, **kwargs: Any) -> None:
        super().__init__(*args, obj=course, **kwargs)
        self.course = course
        self.has_runs = bool(course and course.runs)

    def validate_key(self, field: Field) -> None:
        if self.course is not None and self.has_runs and field.data != self.course.key:
            raise ValidationError(
                _("This course has runs whose keys are built from it, so its key can't change.")
            )

    def validate_number(self, field: Field) -> None:
        match = COURSE_KEY_RE.match(self.key.data or "")
        if field.data and match and field.data != match.group(2):
            raise ValidationError(
                _("The number must be the key's part after '+': %(number)s.", number=match.group(2))
            )

    def values(self) -> dict[str, Any]:
        match = COURSE_KEY_RE.match(self.key.data)
        assert match is not None
        return {
            "key": self.key.data,
            "number": match.group(2),
            "title": self.title.data,
            "description": self.description.data or "",
        }


def _run_key_field(label: Text, example: str, **kw: Any) -> StringField:
    return key_field(
        label,
        RUN_KEY_RE,
        missing=_l("Enter the course run key."),
        wrong=_l("Use course-v1:ORG+NUMBER+RUN, e.g. %(example)s.", example=example),
        max_length=255,
        **kw,
    )


class RunForm(PortalForm):
    course_key = _run_key_field(_l("Course run key"), "course-v1:OpenU+CS.50x+2026_Fall")
    title = title_field()
    start_at = date_field(_l("Starts (UTC)"))
    end_at = date_field(_l("Ends (UTC)"))
    enrollment_start = date_field(_l("Enrollment opens (UTC)"))
    enrollment_end = date_field(_l("Enrollment closes (UTC)"))
    pacing = SelectField(
        _l("Pacing"),
        choices=[
            SelectChoice(Pacing.SELF.value, _l("Self-paced")),
            SelectChoice(Pacing.INSTRUCTOR.value, _l("Instructor-paced")),
        ],
        default=Pacing.SELF.value,
    )
    restriction_type = SelectField(
        _l("Restriction"),
        choices=[
            SelectChoice("", _l("None: listed in the public catalog")),
            *RESTRICTION_CHOICES,
        ],
        default="",
        description=_l(
            "Restricted runs are left out of the catalog unless an entitled caller asks "
            "for their type (ADR 27)."
        ),
    )
    is_source_run = BooleanField(
        _l(
            "Source run: contract runs are cloned from it (one per course; flagging this run "
            "unflags the current one)"
        )
    )
    hidden = BooleanField(_l("Hidden from the catalog, whatever the restriction"))

    def __init__(self, *args: Any, course: Course, run: CourseRun | None = None, **kw: Any) -> None:
        super().__init__(*args, obj=run, **kw)
        self.course = course
        self.run = run
        if run is not None and not self.is_submitted():
            self.pacing.data = run.pacing.value
            self.restriction_type.data = run.restriction_type or ""

    def validate_course_key(self, field: Field) -> None:
        if self.run is not None and self.run.contract_id:
            # Contract runs are minted as course-v1:{org key}+{number}+{n}T{contract}C{year}.
            if field.data != self.run.course_key:
                raise ValidationError(
                    _("This is a contract run; its key is fixed by its contract.")
                )
            return
        parts = split_run_key(field.data or "")
        if parts is not None and f"{parts[0]}+{parts[1]}" != self.course.key:
            raise ValidationError(
                _("A run of %(course)s has a key course-v1:%(course)s+RUN.", course=self.course.key)
            )

    def validate_end_at(self, field: Field) -> None:
        if field.data and self.start_at.data and field.data <= self.start_at.data:
            raise ValidationError(_("The run must end after it starts."))

    def validate_enrollment_end(self, field: Field) -> None:
        if field.data and self.enrollment_start.data and field.data <= self.enrollment_start.data:
            raise ValidationError(_("Enrollment must close after it opens."))

    def validate_restriction_type(self, field: Field) -> None:
        if self.run is not None and self.run.contract_id and not field.data:
            raise ValidationError(
                _("Contract runs are restricted (b2b-rules 4); keep a restriction type.")
            )

    def values(self) -> dict[str, Any]:
        return {
            "course_key": self.course_key.data,
            "title": self.title.data,
            "start_at": self.start_at.data,
            "end_at": self.end_at.data,
            "enrollment_start": self.enrollment_start.data,
            "enrollment_end": self.enrollment_end.data,
            "pacing": Pacing(self.pacing.data),
            "restriction_type": self.restriction_type.data or None,
            "hidden": bool(self.hidden.data),
        }


class ProgramForm(PortalForm):
    key = key_field(
        _l("Program key"),
        PROGRAM_KEY_RE,
        missing=_l("Enter the program key."),
        wrong=_l(
            "Use letters, digits and '_', '.', '-', '~', ':', '+', e.g. program-v1:B2B+DATA-LEAD."
        ),
        max_length=200,
    )
    title = title_field()
    description = TextAreaField(_l("Description"), [Optional(), Length(max=10_000), *TEXT])
    hidden = BooleanField(_l("Hidden from the public catalog"))

    def values(self) -> dict[str, Any]:
        return {
            "key": self.key.data,
            "title": self.title.data,
            "description": self.description.data or "",
            "hidden": bool(self.hidden.data),
        }


class ProgramCourseForm(PortalForm):
    course_id = SelectField(
        _l("Add a course at the end"),
        coerce=int,
        invalid_choice_message=_l(
            "Choose one of the courses listed: a course that isn't in this program yet."
        ),
    )

    def __init__(self, *args: Any, courses: list[Course], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.course_id.choices = [SelectChoice(str(c.id), f"{c.title} ({c.key})") for c in courses]


class ImportRunForm(PortalForm):
    course_key = _run_key_field(
        _l("edX course run key"),
        "course-v1:B2B_SOURCE+DS.101x+SOURCE",
        description=_l(
            "Title, dates and pacing are read from Studio. The course is created if it is "
            "missing; a run named SOURCE becomes the course's source run if it has none."
        ),
    )


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ApiTokenForm(PortalForm):
    name = StringField(
        _l("Name"),
        [InputRequired(_l("Name the token after who uses it.")), Length(max=200), *TEXT],
        filters=[strip],
        description=_l("Who uses it, e.g. 'Acme enterprise catalog'."),
    )
    allowed_restrictions = MultiCheckboxField(
        _l("Restricted runs it may include"),
        choices=RESTRICTION_CHOICES,
        description=_l(
            "The caller still asks with include_restricted; a token never sees hidden runs."
        ),
    )

    def validate_allowed_restrictions(self, field: Field) -> None:
        if not field.data:
            raise ValidationError(_("Choose at least one restriction type."))


class RevokeTokenForm(PortalForm):
    confirm = BooleanField(
        _l("Yes, revoke this token now; whoever uses it loses access at once"),
        [DataRequired(_l("Tick the box to confirm."))],
    )
