"""
1:1 meetings at the venue: windows cut into slots, tables, requests.

The invariants are the database's (``Meta.constraints``), so no interleaving
of requests can break them, whatever the service code does:

- one pending-or-accepted meeting per pair of people and slot
  (``meeting_one_open_per_pair_slot``, a partial unique index over the
  unordered pair);
- no table holds two accepted meetings in one slot
  (``meeting_one_per_table_slot``, partial on ``status = accepted``);
- nobody holds two accepted meetings in one slot: an accepted meeting holds
  one ``MeetingSeat`` per person, unique per (user, slot)
  (``meeting_seat_one_per_person_slot``); seats are deleted when the
  meeting is cancelled.

``MeetingSlot`` rows exist so accepts in one slot can be serialized by
locking that row (see ``meetings.services.accept_meeting``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Greatest, Least


class MeetingWindow(models.Model):
    """A span of time at a conference for booked 1:1 meetings, cut into slots of ``slot_minutes``."""

    conference = models.ForeignKey("conferences.Conference", on_delete=models.CASCADE, related_name="meeting_windows")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    slot_minutes = models.PositiveSmallIntegerField(default=15)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="meeting_window_times_ordered"),
            models.CheckConstraint(condition=Q(slot_minutes__gte=5), name="meeting_window_slot_minutes_min"),
        ]
        indexes = [models.Index(fields=["conference", "starts_at"], name="meeting_window_conf_start_idx")]

    def __str__(self) -> str:
        return f"{self.conference} {self.starts_at:%Y-%m-%d %H:%M}–{self.ends_at:%H:%M} UTC"


class MeetingTable(models.Model):
    """A named table where meetings of one window take place."""

    window = models.ForeignKey(MeetingWindow, on_delete=models.CASCADE, related_name="tables")
    name = models.CharField(max_length=50)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["window", "name"], name="meeting_table_unique_name")]

    def __str__(self) -> str:
        return self.name


class MeetingSlot(models.Model):
    """One slot of a window; its row is the lock that serializes accepts in that slot."""

    window = models.ForeignKey(MeetingWindow, on_delete=models.CASCADE, related_name="slots")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["window", "starts_at"], name="meeting_slot_unique_start"),
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="meeting_slot_times_ordered"),
        ]
        indexes = [models.Index(fields=["starts_at"], name="meeting_slot_starts_at_idx")]

    def __str__(self) -> str:
        return f"{self.starts_at:%Y-%m-%d %H:%M}–{self.ends_at:%H:%M} UTC"


class MeetingStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    CANCELLED = "cancelled", "Cancelled"


OPEN_STATUSES = (MeetingStatus.PENDING, MeetingStatus.ACCEPTED)


class Meeting(models.Model):
    """A request by ``requester`` to meet ``recipient`` in ``slot``; a table once accepted."""

    conference = models.ForeignKey("conferences.Conference", on_delete=models.CASCADE, related_name="meetings")
    slot = models.ForeignKey(MeetingSlot, on_delete=models.CASCADE, related_name="meetings")
    # Copied from the slot: lists, feeds and reminders filter and sort on them without a join.
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="meetings_requested")
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="meetings_received")
    status = models.CharField(max_length=10, choices=MeetingStatus.choices, default=MeetingStatus.PENDING)
    table = models.ForeignKey(MeetingTable, null=True, blank=True, on_delete=models.PROTECT, related_name="meetings")
    message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set by the claim that sends both people's reminder (one conditional UPDATE).
    reminded_at = models.DateTimeField(null=True, blank=True)

    # Not a column: the viewer's overlapping bookmarked sessions, set by ``selectors.attach_conflicts``.
    conflicts_with: list[int]

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(requester=F("recipient")), name="meeting_not_self"),
            models.CheckConstraint(
                condition=Q(status=MeetingStatus.ACCEPTED, table__isnull=False)
                | (~Q(status=MeetingStatus.ACCEPTED) & Q(table__isnull=True)),
                name="meeting_table_iff_accepted",
            ),
            models.UniqueConstraint(
                Least("requester", "recipient"),
                Greatest("requester", "recipient"),
                "slot",
                condition=Q(status__in=OPEN_STATUSES),
                name="meeting_one_open_per_pair_slot",
            ),
            models.UniqueConstraint(
                fields=["table", "slot"],
                condition=Q(status=MeetingStatus.ACCEPTED),
                name="meeting_one_per_table_slot",
            ),
        ]
        indexes = [
            models.Index(fields=["requester", "starts_at"], name="meeting_requester_start_idx"),
            models.Index(fields=["recipient", "starts_at"], name="meeting_recipient_start_idx"),
            models.Index(fields=["status", "starts_at"], name="meeting_status_start_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.requester_id} ↔ {self.recipient_id} at {self.starts_at:%Y-%m-%d %H:%M} ({self.status})"

    def other_than(self, user_id: int) -> int:
        """Return the id of the person in this meeting who is not ``user_id``."""
        return self.recipient_id if self.requester_id == user_id else self.requester_id


class MeetingSeat(models.Model):
    """One person's place in an accepted meeting: at most one per person and slot."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="seats")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="meeting_seats")
    slot = models.ForeignKey(MeetingSlot, on_delete=models.CASCADE, related_name="seats")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "slot"], name="meeting_seat_one_per_person_slot"),
            models.UniqueConstraint(fields=["meeting", "user"], name="meeting_seat_unique_person"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in meeting {self.meeting_id}"
