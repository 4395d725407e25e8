"""
Moving Connection and Block from ``users`` to ``connections`` keeps every row.

The database is taken back to the schema before the move (``users.0001``,
no ``connections`` app), filled through the historical models, and migrated
forward; the new models must find every row, and the database must still
enforce the pair constraints.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from connections.models import Block, Connection, ConnectionStatus

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE_MOVE = [("users", "0001_initial"), ("connections", None)]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()  # reload what is applied now
    return executor


def _latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.fixture
def old_schema():
    """A database at the schema before the move, put back to the latest whatever the test does."""
    executor = _migrate(BEFORE_MOVE)
    yield executor.loader.project_state([("users", "0001_initial")]).apps
    _migrate(_latest())


def test_rows_written_before_the_move_are_found_through_the_new_models(old_schema):
    User = old_schema.get_model("users", "User")
    OldConnection = old_schema.get_model("users", "Connection")
    OldBlock = old_schema.get_model("users", "Block")
    OldContentType = old_schema.get_model("contenttypes", "ContentType")
    ann, bob, cat, dan = (User.objects.create(telegram_id=n, first_name=name) for n, name in enumerate("ABCD", 1))
    responded = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    rows = [
        OldConnection.objects.create(from_user=ann, to_user=bob, status="pending", message="Hi Bob"),
        OldConnection.objects.create(
            from_user=ann, to_user=cat, status="accepted", met_in_person=True, responded_at=responded
        ),
        OldConnection.objects.create(from_user=dan, to_user=bob, status="declined", responded_at=responded),
    ]
    blocks = [OldBlock.objects.create(blocker=cat, blocked=dan), OldBlock.objects.create(blocker=bob, blocked=cat)]
    old_content_type = OldContentType.objects.get(app_label="users", model="connection")

    _migrate(_latest())

    assert sorted(
        Connection.objects.values_list(
            "pk", "from_user_id", "to_user_id", "status", "message", "met_in_person", "created_at", "responded_at"
        )
    ) == sorted(
        (c.pk, c.from_user_id, c.to_user_id, c.status, c.message, c.met_in_person, c.created_at, c.responded_at)
        for c in rows
    )
    assert sorted(Block.objects.values_list("pk", "blocker_id", "blocked_id", "created_at")) == sorted(
        (b.pk, b.blocker_id, b.blocked_id, b.created_at) for b in blocks
    )
    accepted = Connection.objects.get(status=ConnectionStatus.ACCEPTED)
    assert (accepted.from_user.first_name, accepted.to_user.first_name) == ("A", "C")
    # The content type (and with it permissions and admin history) moved with the model.
    ContentType.objects.clear_cache()
    assert ContentType.objects.get_for_model(Connection).pk == old_content_type.pk


def test_the_database_still_enforces_the_pair_constraints_after_the_move(old_schema):
    User = old_schema.get_model("users", "User")
    OldConnection = old_schema.get_model("users", "Connection")
    ann, bob = User.objects.create(telegram_id=1), User.objects.create(telegram_id=2)
    OldConnection.objects.create(from_user=ann, to_user=bob, status="pending")

    _migrate(_latest())

    with pytest.raises(IntegrityError), transaction.atomic():
        Connection.objects.create(from_user_id=bob.pk, to_user_id=ann.pk)
    with pytest.raises(IntegrityError), transaction.atomic():
        Block.objects.create(blocker_id=ann.pk, blocked_id=ann.pk)
    Block.objects.create(blocker_id=ann.pk, blocked_id=bob.pk)
    with pytest.raises(IntegrityError), transaction.atomic():
        Block.objects.create(blocker_id=ann.pk, blocked_id=bob.pk)


def test_every_constraint_and_index_the_models_declare_exists_in_the_database():
    for model in (Connection, Block):
        with connection.cursor() as cursor:
            existing = set(connection.introspection.get_constraints(cursor, model._meta.db_table))
        declared = {c.name for c in model._meta.constraints} | {i.name for i in model._meta.indexes}

        assert declared <= existing, (model.__name__, declared - existing)
