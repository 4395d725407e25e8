"""Live sessions over REST: questions, moderation, polls, feedback (contract: "Live sessions")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conferences.models import AttendanceStatus, ConferenceOrganizer, SessionSpeaker
from live.models import Feedback, PollVote, Question, QuestionModeration, QuestionVote
from tests.conftest import client_for
from tests.factories import AttendanceFactory, ConferenceFactory, SessionFactory, SpeakerFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def session():
    return SessionFactory(starts_at=timezone.now() - timedelta(minutes=10))


def base(session) -> str:
    return f"/api/v1/conferences/{session.conference.slug}/sessions/{session.pk}"


def speaker_of(session):
    person = UserFactory()
    speaker = SpeakerFactory(conference=session.conference, user=person)
    SessionSpeaker.objects.create(session=session, speaker=speaker)
    return person


def ask(client, session, text="Why?", **extra):
    return client.post(f"{base(session)}/questions/", {"text": text, **extra}, format="json")


# --- questions ------------------------------------------------------------------------------------


def test_ask_question_answers_201_with_the_question(session, user, user_api):
    response = ask(user_api, session, "How does it scale?")

    assert response.status_code == 201
    body = response.json()
    question = Question.objects.get()
    assert body["id"] == question.pk
    assert body["text"] == "How does it scale?"
    assert body["author"]["id"] == user.pk
    assert body["author"]["display_name"] == user.get_display_name()
    assert (body["votes"], body["my_vote"], body["status"], body["pinned"], body["anonymous"]) == (
        0,
        False,
        "open",
        False,
        False,
    )
    assert question.author == user and question.session == session


def test_anonymous_question_hides_the_author_from_everyone_but_keeps_it_stored(session, user, user_api):
    ask(user_api, session, "Secret?", anonymous=True)

    listed = client_for(UserFactory()).get(f"{base(session)}/questions/").json()["results"]

    assert listed[0]["author"] is None
    assert listed[0]["anonymous"] is True
    assert Question.objects.get().author == user


@pytest.mark.parametrize("text", ["", "   ", "x" * 501])
def test_question_text_outside_1_to_500_characters_is_400(session, user_api, text):
    response = ask(user_api, session, text)

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "text" in response.json()["details"]
    assert Question.objects.count() == 0


def test_question_of_500_characters_is_accepted(session, user_api):
    assert ask(user_api, session, "x" * 500).status_code == 201


def test_sixth_question_in_a_minute_is_429_with_retry_after(session, user_api):
    statuses = [ask(user_api, session, f"Q{i}").status_code for i in range(5)]

    response = ask(user_api, session, "one too many")

    assert statuses == [201] * 5
    assert response.status_code == 429
    assert response.json()["code"] == "RATE_LIMITED"
    assert int(response["Retry-After"]) >= 1
    assert Question.objects.count() == 5
    # Another person is not limited by the first one's questions.
    assert ask(client_for(UserFactory()), session, "mine").status_code == 201


def test_unknown_session_is_404(user_api, session):
    response = user_api.get(f"/api/v1/conferences/{session.conference.slug}/sessions/999999/questions/")

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_questions_are_ordered_pinned_then_votes_then_oldest(session, user_api):
    old, popular, pinned, newer = (
        Question.objects.create(session=session, author=UserFactory(), text=t) for t in ("old", "pop", "pin", "new")
    )
    for voter in (UserFactory(), UserFactory()):
        QuestionVote.objects.create(question=popular, user=voter)
    QuestionVote.objects.create(question=pinned, user=UserFactory())
    pinned.is_pinned = True
    pinned.save()

    results = user_api.get(f"{base(session)}/questions/").json()["results"]

    assert [(q["text"], q["votes"], q["pinned"]) for q in results] == [
        ("pin", 1, True),
        ("pop", 2, False),
        ("old", 0, False),
        ("new", 0, False),
    ]


def test_vote_counts_once_and_can_be_withdrawn(session, user, user_api):
    question = Question.objects.create(session=session, author=user, text="mine")
    url = f"{base(session)}/questions/{question.pk}/vote/"

    first = user_api.post(url)
    second = user_api.post(url)

    assert first.status_code == second.status_code == 200
    assert (second.json()["votes"], second.json()["my_vote"]) == (1, True)
    assert QuestionVote.objects.filter(question=question).count() == 1
    assert user_api.delete(url).status_code == 204
    assert QuestionVote.objects.count() == 0
    assert user_api.get(f"{base(session)}/questions/").json()["results"][0]["votes"] == 0


def test_hidden_questions_are_for_moderators_only(session, user_api):
    question = Question.objects.create(session=session, author=UserFactory(), text="rude", status="hidden")
    speaker = client_for(speaker_of(session))

    audience = user_api.get(f"{base(session)}/questions/").json()["results"]
    moderator = speaker.get(f"{base(session)}/questions/").json()["results"]
    projector = speaker.get(f"{base(session)}/questions/?projector=true").json()["results"]
    vote = user_api.post(f"{base(session)}/questions/{question.pk}/vote/")

    assert audience == []
    assert [(q["id"], q["status"]) for q in moderator] == [(question.pk, "hidden")]
    assert projector == []
    assert vote.status_code == 404
    assert QuestionVote.objects.count() == 0


# --- moderation -----------------------------------------------------------------------------------


def moderate(client, session, question, action):
    return client.post(f"{base(session)}/questions/{question.pk}/moderate/", {"action": action}, format="json")


def test_speaker_moderates_and_each_action_is_recorded_with_who_and_when(session):
    person = speaker_of(session)
    speaker = client_for(person)
    question = Question.objects.create(session=session, author=UserFactory(), text="q")

    pinned = moderate(speaker, session, question, "pin")
    answered = moderate(speaker, session, question, "answer")
    hidden = moderate(speaker, session, question, "hide")
    reopened = moderate(speaker, session, question, "reopen")

    assert pinned.status_code == 200 and pinned.json()["pinned"] is True
    assert answered.json()["status"] == "answered"
    assert (hidden.json()["status"], hidden.json()["pinned"]) == ("hidden", False)
    assert reopened.json()["status"] == "open"
    audit = list(QuestionModeration.objects.filter(question=question).values_list("action", "by"))
    assert audit == [("pin", person.pk), ("answer", person.pk), ("hide", person.pk), ("reopen", person.pk)]
    question.refresh_from_db()
    assert question.moderated_by == person and question.moderated_at is not None


@pytest.mark.parametrize("who", ["organizer", "staff", "admin_jwt", "admin_key"])
def test_organizers_staff_and_admins_moderate(session, who, admin_api):
    question = Question.objects.create(session=session, author=UserFactory(), text="q")
    if who == "organizer":
        person = UserFactory()
        ConferenceOrganizer.objects.create(conference=session.conference, user=person)
        client = client_for(person)
    elif who == "staff":
        client = client_for(UserFactory(roles=["staff"]))
    elif who == "admin_jwt":
        client = client_for(UserFactory(is_staff=True))
    else:
        client = admin_api

    response = moderate(client, session, question, "answer")

    assert response.status_code == 200
    assert response.json()["status"] == "answered"


def test_others_may_not_moderate(session, user_api):
    other_conference_organizer = UserFactory()
    ConferenceOrganizer.objects.create(conference=ConferenceFactory(), user=other_conference_organizer)
    other_speaker = UserFactory()
    SpeakerFactory(conference=session.conference, user=other_speaker)  # a speaker, but not of this session
    question = Question.objects.create(session=session, author=UserFactory(), text="q")

    responses = [
        moderate(client, session, question, "hide")
        for client in (user_api, client_for(other_conference_organizer), client_for(other_speaker))
    ]

    assert [(r.status_code, r.json()["code"]) for r in responses] == [(403, "PERMISSION_DENIED")] * 3
    assert Question.objects.get().status == "open"
    assert QuestionModeration.objects.count() == 0


def test_unknown_moderation_action_is_400(session, admin_api):
    question = Question.objects.create(session=session, author=UserFactory(), text="q")

    response = moderate(admin_api, session, question, "delete")

    assert response.status_code == 400
    assert "action" in response.json()["details"]


# --- polls ----------------------------------------------------------------------------------------


def open_poll(client, session, options=("Yes", "No")):
    return client.post(f"{base(session)}/polls/", {"question": "Tabs?", "options": list(options)}, format="json")


def test_moderator_opens_a_poll(session):
    response = open_poll(client_for(speaker_of(session)), session)

    assert response.status_code == 201
    body = response.json()
    assert body["question"] == "Tabs?"
    assert body["status"] == "open"
    assert body["my_vote"] is None
    assert [(o["text"], o["votes"]) for o in body["options"]] == [("Yes", 0), ("No", 0)]


@pytest.mark.parametrize("options", [["only"], [f"o{i}" for i in range(11)]])
def test_poll_needs_2_to_10_options(session, admin_api, options):
    response = open_poll(admin_api, session, options)

    assert response.status_code == 400
    assert "options" in response.json()["details"]


def test_attendee_may_not_open_a_poll(session, user_api):
    response = open_poll(user_api, session)

    assert (response.status_code, response.json()["code"]) == (403, "PERMISSION_DENIED")


def test_poll_vote_is_one_per_person_and_a_new_vote_replaces_the_old(session, admin_api, user_api):
    poll = open_poll(admin_api, session).json()
    yes, no = (o["id"] for o in poll["options"])
    url = f"{base(session)}/polls/{poll['id']}/vote/"
    client_for(UserFactory()).post(url, {"option": yes}, format="json")

    user_api.post(url, {"option": yes}, format="json")
    response = user_api.post(url, {"option": no}, format="json")

    assert response.status_code == 200
    assert response.json()["my_vote"] == no
    assert [o["votes"] for o in response.json()["options"]] == [1, 1]
    assert PollVote.objects.count() == 2


def test_closed_poll_refuses_votes_with_409(session, admin_api, user_api):
    poll = open_poll(admin_api, session).json()
    closed = admin_api.post(f"{base(session)}/polls/{poll['id']}/close/")

    response = user_api.post(
        f"{base(session)}/polls/{poll['id']}/vote/", {"option": poll["options"][0]["id"]}, format="json"
    )

    assert (closed.status_code, closed.json()["status"]) == (200, "closed")
    assert (response.status_code, response.json()["code"]) == (409, "POLL_CLOSED")
    assert PollVote.objects.count() == 0


def test_vote_for_another_polls_option_is_400(session, admin_api, user_api):
    first = open_poll(admin_api, session).json()
    second = open_poll(admin_api, session).json()

    response = user_api.post(
        f"{base(session)}/polls/{first['id']}/vote/", {"option": second["options"][0]["id"]}, format="json"
    )

    assert response.status_code == 400
    assert "option" in response.json()["details"]


def test_attendee_may_not_close_a_poll(session, admin_api, user_api):
    poll = open_poll(admin_api, session).json()

    response = user_api.post(f"{base(session)}/polls/{poll['id']}/close/")

    assert response.status_code == 403
    assert user_api.get(f"{base(session)}/polls/").json()["results"][0]["status"] == "open"


# --- feedback -------------------------------------------------------------------------------------


def checked_in(session):
    person = UserFactory()
    AttendanceFactory(conference=session.conference, user=person, status=AttendanceStatus.CHECKED_IN)
    return person


def test_feedback_once_per_person_replaced_on_second_post(session):
    client = client_for(checked_in(session))

    first = client.post(f"{base(session)}/feedback/", {"rating": 4, "comment": "Good"}, format="json")
    second = client.post(f"{base(session)}/feedback/", {"rating": 2}, format="json")

    assert first.status_code == 201 and first.json()["rating"] == 4
    assert second.status_code == 200
    assert list(Feedback.objects.values_list("rating", "comment")) == [(2, "")]


def test_feedback_needs_a_check_in(session):
    person = UserFactory()
    AttendanceFactory(conference=session.conference, user=person)  # registered, not checked in

    response = client_for(person).post(f"{base(session)}/feedback/", {"rating": 5}, format="json")

    assert (response.status_code, response.json()["code"]) == (403, "NOT_CHECKED_IN")
    assert Feedback.objects.count() == 0


def test_feedback_before_the_session_starts_is_409():
    session = SessionFactory(starts_at=timezone.now() + timedelta(minutes=5))
    client = client_for(checked_in(session))

    response = client.post(f"{base(session)}/feedback/", {"rating": 5}, format="json")

    assert (response.status_code, response.json()["code"]) == (409, "FEEDBACK_NOT_OPEN")


@pytest.mark.parametrize("rating", [0, 6, "five"])
def test_feedback_rating_outside_1_to_5_is_400(session, rating):
    response = client_for(checked_in(session)).post(f"{base(session)}/feedback/", {"rating": rating}, format="json")

    assert response.status_code == 400
    assert "rating" in response.json()["details"]


def test_feedback_summary_for_moderators_names_nobody(session, user_api):
    for rating, comment in ((5, "Great"), (4, ""), (5, "Loved it")):
        Feedback.objects.create(session=session, user=checked_in(session), rating=rating, comment=comment)

    response = client_for(speaker_of(session)).get(f"{base(session)}/feedback/")
    refused = user_api.get(f"{base(session)}/feedback/")

    assert response.status_code == 200
    assert response.json() == {
        "count": 3,
        "average": 4.67,
        "distribution": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 2},
        "comments": ["Loved it", "Great"],
    }
    assert refused.status_code == 403


def test_feedback_summary_without_ratings(session, admin_api):
    response = admin_api.get(f"{base(session)}/feedback/")

    assert response.json() == {
        "count": 0,
        "average": None,
        "distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0},
        "comments": [],
    }


# --- query counts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 5])
def test_question_list_query_count_is_constant(session, user_api, count, django_assert_max_num_queries):
    for i in range(count):
        question = Question.objects.create(session=session, author=UserFactory(), text=f"q{i}")
        QuestionVote.objects.create(question=question, user=UserFactory())

    with django_assert_max_num_queries(6):
        response = user_api.get(f"{base(session)}/questions/")

    assert len(response.json()["results"]) == count


@pytest.mark.parametrize("count", [1, 5])
def test_poll_list_query_count_is_constant(session, admin_api, user_api, count, django_assert_max_num_queries):
    for i in range(count):
        open_poll(admin_api, session, (f"a{i}", f"b{i}", f"c{i}"))

    with django_assert_max_num_queries(4):
        response = user_api.get(f"{base(session)}/polls/")

    assert len(response.json()["results"]) == count
    assert all(len(p["options"]) == 3 for p in response.json()["results"])
