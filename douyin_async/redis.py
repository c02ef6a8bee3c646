"""``RedisThrottle``: one gateway key's limits shared by every process that uses the key.

Install with ``pip install 'douyin-async[redis]'`` (the official ``redis`` client's asyncio API).
Each process builds its own throttle on the same Redis and the same gateway key; together they
keep the key's rate and cap in flight, and learn from 4008s as one adaptive client would::

    async with RedisThrottle("redis://127.0.0.1:6379/0", key=KEY, rate_limit=10, max_concurrency=4) as throttle:
        async with DouyinClient(KEY, SECRET, throttle=throttle) as client:
            ...

See docs/scaling.md for the design, the deployment recipes and what happens on each fault. The
implementation lives with the other throttles, in ``_throttle/_redis.py``.
"""

from ._throttle._redis import RedisThrottle

__all__ = ["RedisThrottle"]
