"""Rewards with stock: creating, listing, claiming once, never more than stock; the desk's admin."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.test import Client
from django.utils import timezone

from quests.models import QuestCompletion, Reward, RewardClaim
from tests.conftest import client_for
from tests.factories import AdminUserFactory, UserFactory
from tests.quests.conftest import make_quest

pytestmark = pytest.mark.django_db


@pytest.fixture
def quest(window):
    return make_quest(**window)


def rewards_url(quest) -> str:
    return f"/api/v1/quests/{quest.pk}/rewards/"


def claim_url(reward) -> str:
    return f"/api/v1/quests/{reward.quest_id}/rewards/{reward.pk}/claim/"


def completed(quest, user=None):
    user = user or UserFactory()
    QuestCompletion.objects.create(quest=quest, user=user)
    return user


def test_admin_creates_a_reward(quest, admin_api):
    response = admin_api.post(rewards_url(quest), {"title": "T-shirt", "stock": 10}, format="json")

    assert response.status_code == 201
    reward = Reward.objects.get()
    assert response.json() == {"id": reward.pk, "title": "T-shirt", "stock": 10, "remaining": 10}
    assert (reward.quest_id, reward.stock) == (quest.pk, 10)


@pytest.mark.parametrize("payload", [{"title": "T-shirt"}, {"title": "", "stock": 1}, {"title": "x", "stock": -1}])
def test_reward_create_with_bad_input_is_400(quest, admin_api, payload):
    response = admin_api.post(rewards_url(quest), payload, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert not Reward.objects.exists()


def test_reward_create_for_an_unknown_quest_is_404(admin_api):
    response = admin_api.post("/api/v1/quests/999999/rewards/", {"title": "x", "stock": 1}, format="json")

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_users_list_rewards_with_what_remains(quest, user_api):
    shirt = Reward.objects.create(quest=quest, title="T-shirt", stock=2)
    mug = Reward.objects.create(quest=quest, title="Mug", stock=1)
    RewardClaim.objects.create(reward=shirt, user=completed(quest))
    RewardClaim.objects.create(reward=mug, user=completed(quest))

    response = user_api.get(rewards_url(quest))

    assert response.status_code == 200
    assert response.json()["count"] == 2
    assert [(r["id"], r["title"], r["remaining"]) for r in response.json()["results"]] == [
        (shirt.pk, "T-shirt", 1),
        (mug.pk, "Mug", 0),
    ]


@pytest.mark.parametrize("count", [1, 5])
def test_reward_list_query_count_is_constant(quest, user_api, count, django_assert_max_num_queries):
    for index in range(count):
        reward = Reward.objects.create(quest=quest, title=f"R{index}", stock=3)
        RewardClaim.objects.create(reward=reward, user=completed(quest))

    with django_assert_max_num_queries(5):
        response = user_api.get(rewards_url(quest))

    assert len(response.json()["results"]) == count


def test_claim_without_completing_the_quest_is_409(quest, user_api):
    reward = Reward.objects.create(quest=quest, title="T-shirt", stock=5)

    response = user_api.post(claim_url(reward))

    assert response.status_code == 409
    assert response.json() == {
        "error": "Complete every task of this quest to claim its rewards.",
        "code": "QUEST_NOT_COMPLETED",
    }
    assert not RewardClaim.objects.exists()


def test_claim_gives_a_code_and_again_the_same_claim(quest, user):
    completed(quest, user)
    reward = Reward.objects.create(quest=quest, title="T-shirt", stock=5)
    client = client_for(user)

    first = client.post(claim_url(reward))
    again = client.post(claim_url(reward))

    assert first.status_code == 201
    claim = RewardClaim.objects.get()
    assert first.json()["reward"] == reward.pk
    assert first.json()["code"] == claim.code
    assert re.fullmatch(r"[23456789A-HJ-NP-Z]{10}", claim.code)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert client.get(rewards_url(quest)).json()["results"][0]["remaining"] == 4


def test_claim_after_stock_is_gone_is_409_but_an_existing_claim_still_answers(quest):
    reward = Reward.objects.create(quest=quest, title="Last one", stock=1)
    lucky, late = completed(quest), completed(quest)
    client_for(lucky).post(claim_url(reward))

    refused = client_for(late).post(claim_url(reward))
    mine = client_for(lucky).post(claim_url(reward))

    assert refused.status_code == 409
    assert refused.json() == {"error": "This reward is all gone.", "code": "OUT_OF_STOCK"}
    assert mine.status_code == 200
    assert list(RewardClaim.objects.values_list("user_id", flat=True)) == [lucky.pk]


def test_claim_of_another_quests_reward_is_404(quest, window, user):
    other = make_quest(**window)
    reward = Reward.objects.create(quest=other, title="Elsewhere", stock=5)
    completed(quest, user)

    response = client_for(user).post(f"/api/v1/quests/{quest.pk}/rewards/{reward.pk}/claim/")

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_claim_codes_differ_between_people(quest):
    reward = Reward.objects.create(quest=quest, title="Sticker", stock=30)
    codes = {client_for(completed(quest)).post(claim_url(reward)).json()["code"] for _ in range(20)}

    assert len(codes) == 20


# --- the desk -----------------------------------------------------------------------------


@pytest.fixture
def desk():
    staff = AdminUserFactory(is_superuser=True)
    client = Client()
    client.force_login(staff)
    return client, staff


def test_admin_lists_claims_and_marks_them_handed_out_once(quest, desk):
    client, staff = desk
    reward = Reward.objects.create(quest=quest, title="T-shirt", stock=5)
    first = RewardClaim.objects.create(reward=reward, user=completed(quest))
    second = RewardClaim.objects.create(reward=reward, user=completed(quest))
    earlier = timezone.now() - timezone.timedelta(hours=1)
    RewardClaim.objects.filter(pk=second.pk).update(handed_out_at=earlier)

    listing = client.get("/admin/quests/rewardclaim/")
    response = client.post(
        "/admin/quests/rewardclaim/",
        {"action": "mark_handed_out", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )

    assert listing.status_code == 200
    assert first.code in listing.content.decode()
    assert response.status_code == 200
    assert "Handed out 1 claims; 1 already were." in response.content.decode()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.handed_out_at is not None
    assert first.handed_out_by_id == staff.pk
    assert second.handed_out_at == earlier
    assert second.handed_out_by_id is None


def test_admin_exports_claims_as_csv(quest, desk):
    client, _ = desk
    reward = Reward.objects.create(quest=quest, title="T-shirt", stock=5)
    user = completed(quest)
    claim = RewardClaim.objects.create(reward=reward, user=user)

    response = client.post(
        "/admin/quests/rewardclaim/", {"action": "export_claims_csv", "_selected_action": [claim.pk]}
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        ["code", "reward", "quest", "user_id", "user", "claimed_at", "handed_out_at", "handed_out_by"],
        [
            claim.code,
            "T-shirt",
            quest.title,
            str(user.pk),
            user.get_display_name(),
            claim.created_at.isoformat(),
            "",
            "",
        ],
    ]
