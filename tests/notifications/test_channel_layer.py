"""ibw.channel_layer.VenueChannelLayer against the real Redis."""

from __future__ import annotations

import asyncio
import uuid

from django.conf import settings

from ibw.channel_layer import VenueChannelLayer


def _layer(**overrides) -> VenueChannelLayer:
    config = {**settings.CHANNEL_LAYERS["default"]["CONFIG"], "prefix": f"test:{uuid.uuid4().hex[:8]}", **overrides}
    return VenueChannelLayer(**config)


def _run(scenario):
    return asyncio.run(scenario())


def test_group_send_many_reaches_every_member_once_in_order():
    layer = _layer()

    async def scenario():
        channels = [await layer.new_channel() for _ in range(300)]
        for i, channel in enumerate(channels):
            await layer.group_add(f"user.{i}", channel)
        await layer.group_add("user.0", channels[1])  # one socket in two groups
        refused = await layer.group_send_many(
            [(f"user.{i}", {"type": "push", "n": i}) for i in range(300)] + [("user.empty", {"type": "push"})]
        )
        received = {}
        for channel in channels:
            messages = [await asyncio.wait_for(layer.receive(channel), 5)]
            if channel == channels[1]:
                messages.append(await asyncio.wait_for(layer.receive(channel), 5))
            received[channel] = [m["n"] for m in messages]
        await layer.close_pools()
        return refused, received, channels

    refused, received, channels = _run(scenario)

    assert refused == 0
    assert received[channels[0]] == [0]
    assert received[channels[1]] == [0, 1] or received[channels[1]] == [1, 0]
    assert [received[c] for c in channels[2:]] == [[i] for i in range(2, 300)]


def test_a_full_process_queue_refuses_and_counts():
    layer = _layer(channel_capacity={"specific.*": 5})

    async def scenario():
        channel = await layer.new_channel()
        await layer.group_add("user.1", channel)
        refused = await layer.group_send_many([("user.1", {"type": "push", "n": i}) for i in range(8)])
        first = [(await asyncio.wait_for(layer.receive(channel), 5))["n"] for _ in range(5)]
        await layer.close_pools()
        return refused, first

    refused, first = _run(scenario)

    assert refused == 3
    assert first == [0, 1, 2, 3, 4]


def test_receive_takes_a_backlog_in_batches_and_keeps_order():
    layer = _layer(receive_batch=50)

    async def scenario():
        channel = await layer.new_channel()
        await layer.group_add("user.1", channel)
        await layer.group_send_many([("user.1", {"type": "push", "n": i}) for i in range(120)])
        connection = layer.connection(0)
        key = layer.prefix + layer.non_local_name(channel)
        got = [(await asyncio.wait_for(layer.receive(channel), 5))["n"]]
        left_after_first = await connection.zcard(key)
        got += [(await asyncio.wait_for(layer.receive(channel), 5))["n"] for _ in range(119)]
        await layer.close_pools()
        return got, left_after_first

    got, left_after_first = _run(scenario)

    assert got == list(range(120))
    assert left_after_first == 70  # one round trip took 50


def test_stale_group_members_expire():
    layer = _layer(group_expiry=1)

    async def scenario():
        channel = await layer.new_channel()
        await layer.group_add("user.1", channel)
        await asyncio.sleep(2.1)
        await layer.group_send_many([("user.1", {"type": "push"})])
        members = await layer.connection(0).zcard(layer._group_key("user.1"))
        await layer.close_pools()
        return members

    assert _run(scenario) == 0


def test_send_now_counts_and_logs_what_the_layer_refused(settings, caplog):
    from channels.layers import channel_layers, get_channel_layer

    from notifications.realtime import send_now, user_group

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "ibw.channel_layer.VenueChannelLayer",
            "CONFIG": {
                **settings.CHANNEL_LAYERS["default"]["CONFIG"],
                "prefix": f"test:{uuid.uuid4().hex[:8]}",
                "channel_capacity": {"specific.*": 1},
            },
        }
    }
    channel_layers.backends.clear()
    layer = get_channel_layer()

    async def join():
        await layer.group_add(user_group(1), await layer.new_channel())

    asyncio.run(join())
    try:
        refused = send_now([(user_group(1), {"type": "push", "payload": {"n": i}}) for i in range(3)])
    finally:
        channel_layers.backends.clear()

    assert refused == 2
    assert "realtime_push_refused" in caplog.text
