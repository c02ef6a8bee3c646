"""One ``item_get_video`` call end to end: what it costs, how it is retried, and the call itself.

    _gateway   URL, throttle, send, decode, feedback, quota: one attempt, and the call around it
    _retry     what is retried, the backoff, Retry-After, the tenacity loops
    _billing   Charge: whether an attempt was billed
"""
