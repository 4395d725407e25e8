"""Factories for connections, blocks and the data recommendations read."""

from __future__ import annotations

import factory

from conferences.models import Bookmark
from connections.models import Block, Connection, ConnectionStatus
from events.models import RSVP, RSVPStatus
from tests.factories import EventFactory, SessionFactory, UserFactory


class ConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Connection

    from_user = factory.SubFactory(UserFactory)
    to_user = factory.SubFactory(UserFactory)
    status = ConnectionStatus.PENDING
    message = ""


class BlockFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Block

    blocker = factory.SubFactory(UserFactory)
    blocked = factory.SubFactory(UserFactory)


class BookmarkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Bookmark

    user = factory.SubFactory(UserFactory)
    session = factory.SubFactory(SessionFactory)


class RSVPFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RSVP

    event = factory.SubFactory(EventFactory)
    user = factory.SubFactory(UserFactory)
    status = RSVPStatus.GOING
