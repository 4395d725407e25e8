"""
IBW settings: one module, every value from the environment.

Unset variables fall back to embedded defaults (SQLite, the Redis that
``make run`` starts) so a fresh checkout runs; production sets
``DEBUG=false``, ``SECRET_KEY``, ``DATABASE_URL`` and ``REDIS_URL``.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from ibw.logs import build_logging

BASE_DIR = Path(__file__).resolve().parent.parent
RUN_DIR = BASE_DIR / ".run"

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
TESTING = env.bool("IBW_TESTING", default=False)

_DEV_SECRET_KEY = "django-insecure-dev-only-key-0123456789abcdefghijklmnopqrstuvwxyz"
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "ibw.admin_config.IBWAdminConfig",  # django.contrib.admin with the co-organizer-aware site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_celery_beat",
    "users",
    "uploads",
    "conferences",
    "events",
    "connections",
    "meetings",
    "live",
    "quests",
    "chats",
    "notifications",
    "broadcasts",
    "integrations",
    "bot",
    "dashboard",
    "privacy",
    # The project itself, so its project-wide management commands (seed_demo) are found.
    "ibw",
]

MIDDLEWARE = [
    "ibw.middleware.RequestIDMiddleware",
    "ibw.middleware.AccessLogMiddleware",
    "ibw.middleware.RejectNullBytesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ibw.urls"
WSGI_APPLICATION = "ibw.wsgi.application"
ASGI_APPLICATION = "ibw.asgi.application"
AUTH_USER_MODEL = "users.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web, worker and beat processes read while one writes;
    # IMMEDIATE takes the write lock at BEGIN, so a writer waits (busy
    # timeout) instead of failing with "database is locked" mid-transaction.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
elif DB_POOL_MAX_SIZE := env.int("DB_POOL_MAX_SIZE", default=0):
    # ASGI (Daphne) and Celery: a bounded psycopg pool per process. Under ASGI
    # each request runs in a new executor thread, so persistent connections
    # (CONN_MAX_AGE) would pile up per thread; the pool caps and reuses them.
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django refuses a pool with persistent connections
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(env.int("DB_POOL_MIN_SIZE", default=1), DB_POOL_MAX_SIZE),
        "max_size": DB_POOL_MAX_SIZE,
        # A request waits this long for a free connection before failing (503).
        "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
    }
else:
    # WSGI (gunicorn sync workers): one connection per worker, kept for
    # CONN_MAX_AGE seconds and checked before reuse.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Celery broker, channel layer ---------------------------

EMBEDDED_REDIS_PORT = env.int("EMBEDDED_REDIS_PORT", default=6390)
REDIS_URL = env.str("REDIS_URL", default=f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "ibw",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}

# Quest leaderboards (sorted sets); a separate Redis may hold them. Empty: REDIS_URL.
LEADERBOARD_REDIS_URL = env.str("LEADERBOARD_REDIS_URL", default="")
# How many of each conference day's sprint get ``sprint_won`` (ties at the last place included).
SPRINT_WINNERS = env.int("SPRINT_WINNERS", default=3)

CHANNEL_LAYERS = {
    "default": {
        # channels-redis with batched receive and send, and a connection pool
        # that waits (ibw/channel_layer.py says why).
        "BACKEND": "ibw.channel_layer.VenueChannelLayer",
        # redis-py 8 reads with a 5 s socket timeout by default, the same as
        # channels-redis's 5 s BZPOPMIN: an idle socket's receive loop then dies
        # with "Timeout reading". A longer timeout keeps idle sockets alive.
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 5}],
            "prefix": "ibw:asgi",
            "capacity": 1500,
            # Every socket of one Daphne process shares one queue ("specific.<process>!"):
            # it must hold a whole broadcast's pushes for that process (10,000 sockets
            # behind one process, with room to spare), while "expiry" bounds its memory.
            "channel_capacity": {"specific.*": env.int("WS_PROCESS_QUEUE_CAPACITY", default=25000)},
            "expiry": 30,
            # A socket is closed when its access token expires (contract v1.1), and
            # reconnecting joins again: a membership older than this is a leftover of a
            # socket whose disconnect never reached Redis.
            "group_expiry": env.int("WS_GROUP_EXPIRY_SECONDS", default=2 * 3600),
            "receive_batch": 200,
            "pool_max_connections": env.int("WS_REDIS_POOL_SIZE", default=64),
            "pool_timeout": 30,
        },
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_RETRY_DELAY = 5
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A task not acknowledged within this many seconds is handed to another worker.
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    # A worker that consumes several queues takes from them in the order it was
    # given (critical, default, low) instead of round-robin.
    "queue_order_strategy": "priority",
}
# Three queues, so a person waiting on the bot never waits behind bulk work:
# - critical: what one person is waiting for right now (bot login and
#   replies, single-person Telegram notifications, session reminders,
#   live-session vote and presence pushes);
# - default: broadcasts (start, in-app and Telegram lanes, the dispatch sweep)
#   and quest rechecks;
# - low: enrichment, leaderboard rebuilds, reconciliation and retention sweeps.
# Production runs a worker per group (docker-compose.yml); `make run` runs one
# worker for all three, critical first. Routes are by task name, which never
# changes (beat rows and queued messages store it); unlisted tasks go to default.
CELERY_TASK_DEFAULT_QUEUE = "default"
# Declared in priority order: a worker started without --queues consumes all three, critical first.
CELERY_TASK_QUEUES = [Queue(name, routing_key=name) for name in ("critical", "default", "low")]
CELERY_TASK_ROUTES = {
    "integrations.handle_telegram_update": {"queue": "critical"},
    "integrations.requeue_unhandled_updates": {"queue": "critical"},
    "integrations.send_bot_reply": {"queue": "critical"},
    "notifications.send_telegram_deliveries": {"queue": "critical"},
    "conferences.send_session_reminders": {"queue": "critical"},
    "meetings.send_meeting_reminders": {"queue": "critical"},
    # A room full of people watching vote counts and presence move.
    "live.flush_session_updates": {"queue": "critical"},
    "conferences.flush_session_change": {"queue": "critical"},
    "conferences.flush_due_session_changes": {"queue": "default"},
    "conferences.sync_schedules": {"queue": "default"},
    "conferences.sync_schedule": {"queue": "default"},
    "integrations.enrich_user": {"queue": "low"},
    "integrations.resume_enrichments": {"queue": "low"},
    "quests.rebuild_leaderboard": {"queue": "low"},
    "quests.resync_leaderboards": {"queue": "low"},
    "quests.award_sprint_winners": {"queue": "low"},
    "quests.reconcile_invites": {"queue": "low"},
    "users.purge_expired_login_tokens": {"queue": "low"},
    "users.purge_expired_jwt": {"queue": "low"},
    "bot.purge_processed_updates": {"queue": "low"},
    "broadcasts.purge_old_deliveries": {"queue": "low"},
    "uploads.purge_stale_uploads": {"queue": "low"},
    # Someone waits at the chat's door for each join decision.
    "chats.send_join_decisions": {"queue": "critical"},
    "chats.send_posts": {"queue": "default"},
    "chats.revoke_invite_links": {"queue": "low"},
    "broadcasts.send_chat_posts": {"queue": "default"},
    "chats.post_schedule_change": {"queue": "default"},
    "chats.sweep": {"queue": "default"},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = "UTC"
# Periodic jobs; each app's entry says its schedule in words.
CELERY_BEAT_SCHEDULE: dict = {
    # Every minute: remind people of their bookmarked sessions starting
    # within SESSION_REMINDER_MINUTES (each user once per session).
    "conferences-session-reminders": {
        "task": "conferences.send_session_reminders",
        "schedule": 60.0,
    },
}
# Meetings: every minute, remind both people of each accepted meeting starting
# within MEETING_REMINDER_MINUTES, with its table (each meeting claimed once).
CELERY_BEAT_SCHEDULE["meetings-send-reminders"] = {
    "task": "meetings.send_meeting_reminders",
    "schedule": 60.0,
}
# Conferences: every 30 seconds, flush schedule changes whose debounce window
# passed but whose delayed task was lost (each is still told once).
CELERY_BEAT_SCHEDULE["conferences-flush-session-changes"] = {
    "task": "conferences.flush_due_session_changes",
    "schedule": 30.0,
}
# Conferences: every SCHEDULE_SYNC_MINUTES, re-import each conference's schedule_url.
SCHEDULE_SYNC_MINUTES = env.int("SCHEDULE_SYNC_MINUTES", default=5)
SCHEDULE_CHANGE_DEBOUNCE_SECONDS = env.int("SCHEDULE_CHANGE_DEBOUNCE_SECONDS", default=60)
# A schedule_url answer larger than this, or slower than the timeout, fails the sync.
SCHEDULE_SYNC_MAX_BYTES = env.int("SCHEDULE_SYNC_MAX_BYTES", default=20 * 1024 * 1024)
SCHEDULE_SYNC_TIMEOUT = env.float("SCHEDULE_SYNC_TIMEOUT", default=20.0)
CELERY_BEAT_SCHEDULE["conferences-sync-schedules"] = {
    "task": "conferences.sync_schedules",
    "schedule": timedelta(minutes=SCHEDULE_SYNC_MINUTES),
}
# Notifications: every 5 seconds, start broadcasts whose send_at has come,
# restart stalled broadcast batches (a worker died) and due Telegram retries,
# and settle deliveries left in "sending" past their lease.
CELERY_BEAT_SCHEDULE["notifications-dispatch-due"] = {
    "task": "notifications.dispatch_due",
    "schedule": timedelta(seconds=5),
}
# Integrations: every minute, run again enrichment runs left behind by a
# killed worker (running past their lease) or never queued (broker down).
CELERY_BEAT_SCHEDULE["integrations-resume-enrichments"] = {
    "task": "integrations.resume_enrichments",
    "schedule": float(env.int("ENRICHMENT_RESUME_INTERVAL", default=60)),
}
# Integrations: every minute, handle Telegram updates the webhook accepted
# but could not queue (the broker was down); each update still acts once.
CELERY_BEAT_SCHEDULE["integrations-requeue-unhandled-updates"] = {
    "task": "integrations.requeue_unhandled_updates",
    "schedule": 60.0,
}
# Quests: every 15 minutes, tell the top SPRINT_WINNERS of each conference
# day that ended (local midnight in the conference's timezone, plus five
# minutes) that they won its sprint; each winner once.
CELERY_BEAT_SCHEDULE["quests-award-sprint-winners"] = {
    "task": "quests.award_sprint_winners",
    "schedule": timedelta(minutes=15),
}
# Quests: every 10 minutes, complete invite tasks whose count a check-in
# reached while the broker was down (the check-in's own task never ran).
CELERY_BEAT_SCHEDULE["quests-reconcile-invites"] = {
    "task": "quests.reconcile_invites",
    "schedule": timedelta(minutes=10),
}
# Quests: every 10 minutes (LEADERBOARD_RESYNC_INTERVAL seconds), compare each
# Redis leaderboard's member count, points total and checksum with the ledger and
# rebuild them when any differs (Redis flushed, an award's sync failed).
CELERY_BEAT_SCHEDULE["quests-resync-leaderboards"] = {
    "task": "quests.resync_leaderboards",
    "schedule": float(env.int("LEADERBOARD_RESYNC_INTERVAL", default=600)),
}
# Retention, each once an hour: bot-login tokens expired over
# BOT_LOGIN_TOKEN_RETENTION_HOURS ago, refresh-token rows (and their blacklist
# rows) expired over JWT_EXPIRED_RETENTION_HOURS ago, handled Telegram updates
# older than PROCESSED_UPDATE_RETENTION_DAYS, and the delivery rows of
# broadcasts finished over BROADCAST_DELIVERY_RETENTION_DAYS ago (in batches;
# the broadcast keeps its counts).
CELERY_BEAT_SCHEDULE["users-purge-expired-login-tokens"] = {
    "task": "users.purge_expired_login_tokens",
    "schedule": 3600.0,
}
CELERY_BEAT_SCHEDULE["users-purge-expired-jwt"] = {"task": "users.purge_expired_jwt", "schedule": 3600.0}
CELERY_BEAT_SCHEDULE["bot-purge-processed-updates"] = {"task": "bot.purge_processed_updates", "schedule": 3600.0}
CELERY_BEAT_SCHEDULE["broadcasts-purge-old-deliveries"] = {
    "task": "broadcasts.purge_old_deliveries",
    "schedule": 3600.0,
}
# Uploads: every hour, delete uploads (and their objects) created over
# UPLOAD_TTL_HOURS ago and never completed, or completed and never used.
CELERY_BEAT_SCHEDULE["uploads-purge-stale-uploads"] = {"task": "uploads.purge_stale_uploads", "schedule": 3600.0}
# Chats: every 15 seconds, redo join decisions cut off by a crash and queue
# decisions and announcement posts whose task was lost.
CELERY_BEAT_SCHEDULE["chats-sweep"] = {"task": "chats.sweep", "schedule": 15.0}
BOT_LOGIN_TOKEN_RETENTION_HOURS = env.int("BOT_LOGIN_TOKEN_RETENTION_HOURS", default=24)
JWT_EXPIRED_RETENTION_HOURS = env.int("JWT_EXPIRED_RETENTION_HOURS", default=24)
PROCESSED_UPDATE_RETENTION_DAYS = env.int("PROCESSED_UPDATE_RETENTION_DAYS", default=7)
BROADCAST_DELIVERY_RETENTION_DAYS = env.int("BROADCAST_DELIVERY_RETENTION_DAYS", default=90)
# A delivery still "sending" this many seconds after its request started was
# cut off by a crash; it is reported, not resent (see notifications.delivery).
BROADCAST_SENDING_LEASE_SECONDS = env.int("BROADCAST_SENDING_LEASE_SECONDS", default=60)
# Parallel batch tasks per broadcast; the Redis rate limiter is shared by all.
BROADCAST_LANES = env.int("BROADCAST_LANES", default=4)
# Telegram requests a lane has in flight at once (one window: marked "sending"
# together, sent concurrently, recorded together). A kill leaves at most this
# many rows per lane with an unknown outcome. 32: about 1,000 messages a second
# from 4 lanes at Telegram's ~100 ms per request (1,600/s against the local fake).
TELEGRAM_SEND_CONCURRENCY = env.int("TELEGRAM_SEND_CONCURRENCY", default=32)
# Paid broadcasts: broadcast lanes send with allow_paid_broadcast (Telegram
# charges Stars per message over the free limit) on their own bucket at up to
# TELEGRAM_PAID_BROADCAST_RATE (at most 1,000) messages a second; single-person
# sends stay on the free TELEGRAM_RATE_LIMIT bucket.
TELEGRAM_PAID_BROADCAST = env.bool("TELEGRAM_PAID_BROADCAST", default=False)
TELEGRAM_PAID_BROADCAST_RATE = env.float("TELEGRAM_PAID_BROADCAST_RATE", default=1000)

# --- Auth -----------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

ADMIN_API_KEY = env.str("ADMIN_API_KEY", default="")

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=30)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "SIGNING_KEY": SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
}

TELEGRAM_BOT_TOKEN = env.str("TELEGRAM_BOT_TOKEN", default="")
TELEGRAM_BOT_USERNAME = env.str("TELEGRAM_BOT_USERNAME", default="")
# The Mini App's URL: notification buttons open it (else a deep link into the bot).
TELEGRAM_WEBAPP_URL = env.str("TELEGRAM_WEBAPP_URL", default="")
TELEGRAM_WEBHOOK_SECRET = env.str("TELEGRAM_WEBHOOK_SECRET", default="")
TELEGRAM_LOGIN_MAX_AGE = env.int("TELEGRAM_LOGIN_MAX_AGE", default=86400)
TELEGRAM_RATE_LIMIT = env.float("TELEGRAM_RATE_LIMIT", default=25)
TELEGRAM_API_BASE_URL = env.str("TELEGRAM_API_BASE_URL", default="https://api.telegram.org/bot")
# Telegram Login over OpenID Connect: discovery at {issuer}/.well-known/openid-configuration.
TELEGRAM_OIDC_ISSUER = env.str("TELEGRAM_OIDC_ISSUER", default="https://oauth.telegram.org")
TELEGRAM_OIDC_CLIENT_SECRET = env.str("TELEGRAM_OIDC_CLIENT_SECRET", default="")
BOT_LOGIN_TOKEN_TTL = env.int("BOT_LOGIN_TOKEN_TTL", default=600)

OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="https://api.openai.com/v1")
OPENAI_MODEL = env.str("OPENAI_MODEL", default="gpt-4o-mini")
# Which service answers enrichment's chat completions: OpenAI itself (the
# OPENAI_* settings) or an Azure OpenAI deployment (the AZURE_OPENAI_* ones).
OPENAI_PROVIDER = env.str("OPENAI_PROVIDER", default="openai")
if OPENAI_PROVIDER not in ("openai", "azure"):
    raise ImproperlyConfigured("OPENAI_PROVIDER must be openai or azure.")
AZURE_OPENAI_ENDPOINT = env.str("AZURE_OPENAI_ENDPOINT", default="")
AZURE_OPENAI_API_KEY = env.str("AZURE_OPENAI_API_KEY", default="")
AZURE_OPENAI_DEPLOYMENT = env.str("AZURE_OPENAI_DEPLOYMENT", default="")
# "v1": Azure's version-less v1 API ({endpoint}/openai/v1/); a dated version
# (e.g. 2024-10-21): the classic deployments API with ?api-version=.
AZURE_OPENAI_API_VERSION = env.str("AZURE_OPENAI_API_VERSION", default="v1")
APIFY_TOKEN = env.str("APIFY_TOKEN", default="")
APIFY_BASE_URL = env.str("APIFY_BASE_URL", default="https://api.apify.com")
LINKEDIN_API_KEY = env.str("LINKEDIN_API_KEY", default="")
LINKEDIN_BASE_URL = env.str("LINKEDIN_BASE_URL", default="")
# Social enrichment (integrations): the X/Twitter scraper actor on Apify, the
# HTTP client's patience, and the limits that keep AI spending bounded.
APIFY_TWITTER_ACTOR = env.str("APIFY_TWITTER_ACTOR", default="apidojo~tweet-scraper")
INTEGRATIONS_HTTP_TIMEOUT = env.float("INTEGRATIONS_HTTP_TIMEOUT", default=30)
INTEGRATIONS_HTTP_RETRIES = env.int("INTEGRATIONS_HTTP_RETRIES", default=3)
INTEGRATIONS_RETRY_BACKOFF = env.float("INTEGRATIONS_RETRY_BACKOFF", default=1.0)
OPENAI_TIMEOUT = env.float("OPENAI_TIMEOUT", default=60)
ENRICHMENT_COOLDOWN_SECONDS = env.int("ENRICHMENT_COOLDOWN_SECONDS", default=3600)
ENRICHMENT_DAILY_AI_BUDGET = env.int("ENRICHMENT_DAILY_AI_BUDGET", default=500)
# A run still "running" this long after it started was cut off by a crash
# (its HTTP calls time out well before): it may be claimed and run again.
ENRICHMENT_RUN_LEASE_SECONDS = env.int("ENRICHMENT_RUN_LEASE_SECONDS", default=300)

# --- Search -----------------------------------------------------------------

# ``q`` on list endpoints: full-text search on PostgreSQL (ADR 0011); SQLite
# always matches substrings. ``substring`` forces the substring scan on
# PostgreSQL too: the baseline bench/search.py compares against.
SEARCH_MODE = env.str("SEARCH_MODE", default="full_text")
if SEARCH_MODE not in ("full_text", "substring"):
    raise ImproperlyConfigured("SEARCH_MODE must be full_text or substring.")

# --- REST framework ---------------------------------------------------------

THROTTLE_ANON = env.str("THROTTLE_ANON", default="120/min")
THROTTLE_USER = env.str("THROTTLE_USER", default="600/min")
# Successful logins per Telegram account; failed attempts per client address
# (over the limit, that address gets 429 on the login endpoints for the window).
THROTTLE_LOGIN = env.str("THROTTLE_LOGIN", default="20/min")
THROTTLE_LOGIN_FAILURES = env.str("THROTTLE_LOGIN_FAILURES", default="120/min")
# Proxies in front of the app: the client address is the NUM_PROXIES-th entry
# from the right of X-Forwarded-For (0: the peer address; the header is ignored).
NUM_PROXIES = env.int("NUM_PROXIES", default=0)
# Questions asked in live sessions, per person (contract: 5 a minute).
THROTTLE_LIVE_QUESTIONS = env.str("THROTTLE_LIVE_QUESTIONS", default="5/min")
# Live sessions (live/realtime.py): vote counts go out at most every 0.6 s per
# session, presence counts every 1 s; a socket that stops heart-beating drops
# out of presence after the TTL (TTL + heartbeat + 1 s must stay under 60 s).
LIVE_VOTE_INTERVAL_SECONDS = env.float("LIVE_VOTE_INTERVAL_SECONDS", default=0.6)
LIVE_PRESENCE_INTERVAL_SECONDS = env.float("LIVE_PRESENCE_INTERVAL_SECONDS", default=1.0)
LIVE_PRESENCE_HEARTBEAT_SECONDS = env.float("LIVE_PRESENCE_HEARTBEAT_SECONDS", default=15)
LIVE_PRESENCE_TTL_SECONDS = env.float("LIVE_PRESENCE_TTL_SECONDS", default=35)

REST_FRAMEWORK = {
    # JWT first: its WWW-Authenticate header is what keeps DRF's 401s 401s.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "ibw.api.JWTAuthentication",
        "ibw.api.AdminKeyAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "ibw.api.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": ["ibw.api.AnonThrottle", "ibw.api.UserThrottle"],
    "DEFAULT_THROTTLE_RATES": {"anon": THROTTLE_ANON, "user": THROTTLE_USER, "login": THROTTLE_LOGIN},
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON in, as the contract says. Only uploads take multipart (set on their
    # views): Daphne's HTTP layer answers a malformed multipart body with a bare
    # 400 before the app sees it, so no other endpoint should invite one.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "ibw.errors.exception_handler",
    "NUM_PROXIES": NUM_PROXIES,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "IBW API",
    "DESCRIPTION": "Conference week backend: agenda, side events, quests, networking, notifications.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name per choice set that several serializers share.
    "ENUM_NAME_OVERRIDES": {
        "SubmissionStatusEnum": "quests.models.SubmissionStatus",
        "NotificationKindEnum": "notifications.models.NotificationKind",
        # Two choice sets named "purpose": a chat's and an upload's.
        "ChatPurposeEnum": "chats.models.ChatPurpose",
        "UploadPurposeEnum": "uploads.models.UploadPurpose",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "ibw.schema.add_error_responses",
    ],
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "adminKey": {"type": "apiKey", "in": "header", "name": "X-Admin-Key"},
        }
    },
}

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Retry-After", "ETag"]
CORS_ALLOW_HEADERS = [
    "accept",
    "authorization",
    "content-type",
    "if-none-match",
    "x-admin-key",
    "x-request-id",
]

# --- Files ------------------------------------------------------------------

# Where clients reach this server (scheme and host, no trailing slash): the
# schedule documents link each session there when it has no URL of its own.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://localhost:8000")

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
MEDIA_URL = env.str("MEDIA_URL", default="/media/")
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
WHITENOISE_USE_FINDERS = DEBUG or TESTING
AVATAR_MAX_BYTES = 5 * 1024 * 1024
# Direct uploads (the uploads app): a photo proof may be larger than an avatar.
PROOF_MAX_BYTES = 10 * 1024 * 1024
# How long the URL a client sends the bytes to works (the contract: 15 minutes).
UPLOAD_URL_SECONDS = 15 * 60
# Uploads a person may have pending (URL still valid, not completed) at once.
UPLOAD_MAX_PENDING = 20
# Uploads never completed, or completed and never used, are purged after this.
UPLOAD_TTL_HOURS = env.int("UPLOAD_TTL_HOURS", default=24)
# How long the presigned URL of a photo proof (the review queue) or upload works.
UPLOAD_READ_URL_SECONDS = env.int("UPLOAD_READ_URL_SECONDS", default=3600)
# Avatars are streamed to storage; only ordinary form bodies are held in memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=10 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

STORAGE_BACKEND = env.str("STORAGE_BACKEND", default="local")
_storage_backends = {
    "local": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": MEDIA_URL},
    },
    "s3": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("AWS_STORAGE_BUCKET_NAME", default=""),
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default=None),
            "region_name": env.str("AWS_S3_REGION_NAME", default=None),
            "access_key": env.str("AWS_ACCESS_KEY_ID", default=None),
            "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default=None),
            "custom_domain": env.str("AWS_S3_CUSTOM_DOMAIN", default=None),
            "querystring_auth": env.bool("AWS_QUERYSTRING_AUTH", default=True),
            "querystring_expire": env.int("AWS_QUERYSTRING_EXPIRE", default=3600),
            "default_acl": env.str("AWS_DEFAULT_ACL", default=None),
            # SigV4: the only scheme R2 and newer S3 regions accept for signed URLs.
            "signature_version": env.str("AWS_S3_SIGNATURE_VERSION", default="s3v4"),
            "addressing_style": env.str("AWS_S3_ADDRESSING_STYLE", default=None),
            "file_overwrite": False,
        },
    },
    "azure": {
        "BACKEND": "storages.backends.azure_storage.AzureStorage",
        "OPTIONS": {
            "account_name": env.str("AZURE_ACCOUNT_NAME", default=""),
            "account_key": env.str("AZURE_ACCOUNT_KEY", default=""),
            "azure_container": env.str("AZURE_CONTAINER", default="media"),
            "connection_string": env.str("AZURE_CONNECTION_STRING", default=None),
            "expiration_secs": env.int("AZURE_URL_EXPIRATION_SECS", default=3600),
        },
    },
}
if STORAGE_BACKEND not in _storage_backends:
    raise ImproperlyConfigured(f"STORAGE_BACKEND must be one of {', '.join(_storage_backends)}.")
STORAGES = {
    "default": _storage_backends[STORAGE_BACKEND],
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Security -----------------------------------------------------------------

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers probe these over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^ready$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "ibw.errors.csrf_failure"

# --- Metrics ------------------------------------------------------------------

# /metrics answers only a request with "Authorization: Bearer <METRICS_TOKEN>";
# without the token set, or with a wrong one, it is a 404 like any unknown path.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- I18N -----------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Logging ----------------------------------------------------------------------

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOGGING = build_logging(level=LOG_LEVEL, fmt=LOG_FORMAT, cache_loggers=not TESTING)

# Seconds an agenda's version (its fingerprint) is kept in the cache, so a
# cached agenda page or schedule.ics costs no SQL; saves drop it at once.
AGENDA_VERSION_SECONDS = env.int("AGENDA_VERSION_SECONDS", default=5)

# Notifications a session reminder sends this many minutes before the start.
SESSION_REMINDER_MINUTES = env.int("SESSION_REMINDER_MINUTES", default=15)
# Both people of an accepted meeting are reminded, with the table, this many minutes before it starts.
MEETING_REMINDER_MINUTES = env.int("MEETING_REMINDER_MINUTES", default=5)
