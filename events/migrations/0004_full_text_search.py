"""
Full-text search (ADR 0011), PostgreSQL only: ``search_vector`` on side
events (title, location, description), kept by a trigger on the row, with a
GIN index. A no-op on SQLite.
"""

from django.db import migrations

from ibw.search import RunSQLOnPostgreSQL

EVENTS = """
ALTER TABLE events_event ADD COLUMN search_vector tsvector;
CREATE FUNCTION events_event_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector :=
        ibw_search_vector(NEW.title, 'A')
        || ibw_search_vector(NEW.location, 'B')
        || ibw_search_vector(NEW.description, 'C');
    RETURN NEW;
END
$$;
CREATE TRIGGER events_event_search_vector
    BEFORE INSERT OR UPDATE OF title, location, description, search_vector
    ON events_event FOR EACH ROW EXECUTE FUNCTION events_event_search_vector();
UPDATE events_event SET search_vector = NULL;
CREATE INDEX events_event_search_vector_gin ON events_event USING gin (search_vector) WITH (fastupdate = off);
"""

EVENTS_BACK = """
DROP TRIGGER IF EXISTS events_event_search_vector ON events_event;
DROP FUNCTION IF EXISTS events_event_search_vector();
ALTER TABLE events_event DROP COLUMN IF EXISTS search_vector;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0003_event_messages"),
        ("users", "0005_full_text_search"),
    ]

    operations = [RunSQLOnPostgreSQL(EVENTS, EVENTS_BACK)]
