"""
Full-text search (ADR 0011), PostgreSQL only: the ``unaccent`` extension, the
``ibw_search`` (English stemming over unaccent) and ``ibw_search_simple``
(unaccent, no stemming) text search configurations, the ``ibw_search_vector``
helper that the other apps' search triggers also use, and the attendee
directory's vector: name, company, job title and interests, kept by a
trigger on the user row, with a GIN index. A no-op on SQLite.
"""

from django.db import migrations

from ibw.search import RunSQLOnPostgreSQL

SETUP = """
CREATE EXTENSION IF NOT EXISTS unaccent;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = 'ibw_search') THEN
        CREATE TEXT SEARCH CONFIGURATION ibw_search (COPY = english);
        ALTER TEXT SEARCH CONFIGURATION ibw_search
            ALTER MAPPING FOR hword, hword_part, word WITH unaccent, english_stem;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = 'ibw_search_simple') THEN
        CREATE TEXT SEARCH CONFIGURATION ibw_search_simple (COPY = simple);
        ALTER TEXT SEARCH CONFIGURATION ibw_search_simple
            ALTER MAPPING FOR hword, hword_part, word WITH unaccent, simple;
    END IF;
END
$$;
-- Stemmed words match whole words; the unstemmed ones serve the prefix of the last word typed.
CREATE OR REPLACE FUNCTION ibw_search_vector(body text, weight "char") RETURNS tsvector
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT setweight(
        to_tsvector('ibw_search', coalesce(body, '')) || to_tsvector('ibw_search_simple', coalesce(body, '')),
        weight
    )
$$;
"""

USERS = """
ALTER TABLE users_user ADD COLUMN search_vector tsvector;
CREATE FUNCTION users_user_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector :=
        ibw_search_vector(concat_ws(' ', NEW.display_name, NEW.first_name, NEW.last_name, NEW.username), 'A')
        || ibw_search_vector(concat_ws(' ', NEW.company, NEW.job_title), 'B')
        || ibw_search_vector(NEW.interests::text, 'C');
    RETURN NEW;
END
$$;
CREATE TRIGGER users_user_search_vector
    BEFORE INSERT OR UPDATE OF display_name, first_name, last_name, username, company, job_title, interests,
        search_vector
    ON users_user FOR EACH ROW EXECUTE FUNCTION users_user_search_vector();
UPDATE users_user SET search_vector = NULL;
CREATE INDEX users_user_search_vector_gin ON users_user USING gin (search_vector) WITH (fastupdate = off);
"""

USERS_BACK = """
DROP TRIGGER IF EXISTS users_user_search_vector ON users_user;
DROP FUNCTION IF EXISTS users_user_search_vector();
ALTER TABLE users_user DROP COLUMN IF EXISTS search_vector;
"""

SETUP_BACK = """
DROP FUNCTION IF EXISTS ibw_search_vector(text, "char");
DROP TEXT SEARCH CONFIGURATION IF EXISTS ibw_search;
DROP TEXT SEARCH CONFIGURATION IF EXISTS ibw_search_simple;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0004_session_reminders_switch"),
    ]

    operations = [
        RunSQLOnPostgreSQL(SETUP, SETUP_BACK),
        RunSQLOnPostgreSQL(USERS, USERS_BACK),
    ]
