"""
Full-text search (ADR 0011), PostgreSQL only: ``search_vector`` on speakers
(name, biography) and sessions (title, speakers' names, track, abstract),
with GIN indexes. A session's vector is computed by a trigger on the session
row that reads its speakers and track; the triggers on speaker links,
speaker names and track names recompute the sessions they touch (setting
``search_vector`` to NULL fires it), so imports, edits and renames show in
results at once. A no-op on SQLite.
"""

from django.db import migrations

from ibw.search import RunSQLOnPostgreSQL

SPEAKERS = """
ALTER TABLE conferences_speaker ADD COLUMN search_vector tsvector;
CREATE FUNCTION conferences_speaker_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector := ibw_search_vector(NEW.name, 'A') || ibw_search_vector(NEW.bio, 'C');
    RETURN NEW;
END
$$;
CREATE TRIGGER conferences_speaker_search_vector
    BEFORE INSERT OR UPDATE OF name, bio, search_vector
    ON conferences_speaker FOR EACH ROW EXECUTE FUNCTION conferences_speaker_search_vector();
UPDATE conferences_speaker SET search_vector = NULL;
CREATE INDEX conferences_speaker_search_vector_gin ON conferences_speaker USING gin (search_vector) WITH (fastupdate = off);
"""

SPEAKERS_BACK = """
DROP TRIGGER IF EXISTS conferences_speaker_search_vector ON conferences_speaker;
DROP FUNCTION IF EXISTS conferences_speaker_search_vector();
ALTER TABLE conferences_speaker DROP COLUMN IF EXISTS search_vector;
"""

SESSIONS = """
ALTER TABLE conferences_session ADD COLUMN search_vector tsvector;
CREATE FUNCTION conferences_session_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector :=
        ibw_search_vector(NEW.title, 'A')
        || ibw_search_vector(
            (SELECT string_agg(speaker.name, ' ')
             FROM conferences_sessionspeaker link
             JOIN conferences_speaker speaker ON speaker.id = link.speaker_id
             WHERE link.session_id = NEW.id),
            'B')
        || ibw_search_vector((SELECT track.name FROM conferences_track track WHERE track.id = NEW.track_id), 'B')
        || ibw_search_vector(NEW.abstract, 'C');
    RETURN NEW;
END
$$;
CREATE TRIGGER conferences_session_search_vector
    BEFORE INSERT OR UPDATE OF title, abstract, track_id, search_vector
    ON conferences_session FOR EACH ROW EXECUTE FUNCTION conferences_session_search_vector();

-- Speakers linked or unlinked (one statement per import or edit, so statement-level).
CREATE FUNCTION conferences_sessionspeaker_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE conferences_session SET search_vector = NULL WHERE id IN (SELECT session_id FROM new_links);
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE conferences_session SET search_vector = NULL WHERE id IN (SELECT session_id FROM old_links);
    ELSE
        UPDATE conferences_session SET search_vector = NULL
        WHERE id IN (SELECT session_id FROM new_links UNION SELECT session_id FROM old_links);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER conferences_sessionspeaker_search_insert
    AFTER INSERT ON conferences_sessionspeaker REFERENCING NEW TABLE AS new_links
    FOR EACH STATEMENT EXECUTE FUNCTION conferences_sessionspeaker_search();
CREATE TRIGGER conferences_sessionspeaker_search_delete
    AFTER DELETE ON conferences_sessionspeaker REFERENCING OLD TABLE AS old_links
    FOR EACH STATEMENT EXECUTE FUNCTION conferences_sessionspeaker_search();
CREATE TRIGGER conferences_sessionspeaker_search_update
    AFTER UPDATE ON conferences_sessionspeaker REFERENCING OLD TABLE AS old_links NEW TABLE AS new_links
    FOR EACH STATEMENT EXECUTE FUNCTION conferences_sessionspeaker_search();

-- A speaker renamed: their sessions.
CREATE FUNCTION conferences_speaker_search_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conferences_session SET search_vector = NULL
    WHERE id IN (SELECT session_id FROM conferences_sessionspeaker WHERE speaker_id = NEW.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER conferences_speaker_search_sessions
    AFTER UPDATE OF name ON conferences_speaker FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION conferences_speaker_search_sessions();

-- A track renamed: its sessions (a track deleted sets track_id to NULL, which the session trigger sees).
CREATE FUNCTION conferences_track_search_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conferences_session SET search_vector = NULL WHERE track_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER conferences_track_search_sessions
    AFTER UPDATE OF name ON conferences_track FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION conferences_track_search_sessions();

UPDATE conferences_session SET search_vector = NULL;
CREATE INDEX conferences_session_search_vector_gin ON conferences_session USING gin (search_vector) WITH (fastupdate = off);
"""

SESSIONS_BACK = """
DROP TRIGGER IF EXISTS conferences_track_search_sessions ON conferences_track;
DROP FUNCTION IF EXISTS conferences_track_search_sessions();
DROP TRIGGER IF EXISTS conferences_speaker_search_sessions ON conferences_speaker;
DROP FUNCTION IF EXISTS conferences_speaker_search_sessions();
DROP TRIGGER IF EXISTS conferences_sessionspeaker_search_insert ON conferences_sessionspeaker;
DROP TRIGGER IF EXISTS conferences_sessionspeaker_search_delete ON conferences_sessionspeaker;
DROP TRIGGER IF EXISTS conferences_sessionspeaker_search_update ON conferences_sessionspeaker;
DROP FUNCTION IF EXISTS conferences_sessionspeaker_search();
DROP TRIGGER IF EXISTS conferences_session_search_vector ON conferences_session;
DROP FUNCTION IF EXISTS conferences_session_search_vector();
ALTER TABLE conferences_session DROP COLUMN IF EXISTS search_vector;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("conferences", "0006_schedule_changes_and_sync"),
        ("users", "0005_full_text_search"),
    ]

    operations = [
        RunSQLOnPostgreSQL(SPEAKERS, SPEAKERS_BACK),
        RunSQLOnPostgreSQL(SESSIONS, SESSIONS_BACK),
    ]
