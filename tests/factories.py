"""factory_boy factories: plain, valid objects with no surprising defaults."""

from __future__ import annotations

from datetime import date, timedelta

import factory
from django.utils import timezone

from conferences.models import Attendance, Conference, Room, Session, Speaker, Track
from events.models import Event
from users.models import User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    telegram_id = factory.Sequence(lambda n: 100_000 + n)
    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")


class AdminUserFactory(UserFactory):
    email = factory.Sequence(lambda n: f"admin{n}@example.org")
    is_staff = True


class ConferenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conference

    slug = factory.Sequence(lambda n: f"conf-{n}")
    name = factory.Sequence(lambda n: f"Conference {n}")
    timezone = "Europe/Berlin"
    starts_on = factory.LazyFunction(lambda: date.today())
    ends_on = factory.LazyAttribute(lambda o: o.starts_on + timedelta(days=2))


class RoomFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Room

    conference = factory.SubFactory(ConferenceFactory)
    name = factory.Sequence(lambda n: f"Room {n}")


class TrackFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Track

    conference = factory.SubFactory(ConferenceFactory)
    name = factory.Sequence(lambda n: f"Track {n}")


class SpeakerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Speaker

    conference = factory.SubFactory(ConferenceFactory)
    external_id = factory.Sequence(lambda n: f"spk-{n}")
    name = factory.Faker("name")


class SessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Session

    conference = factory.SubFactory(ConferenceFactory)
    guid = factory.Faker("uuid4")
    title = factory.Sequence(lambda n: f"Talk {n}")
    starts_at = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=1))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(minutes=30))
    room = factory.SubFactory(RoomFactory, conference=factory.SelfAttribute("..conference"))


class AttendanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Attendance

    conference = factory.SubFactory(ConferenceFactory)
    user = factory.SubFactory(UserFactory)


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    title = factory.Sequence(lambda n: f"Side event {n}")
    starts_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=1))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(hours=2))
    location = "Rooftop bar"
