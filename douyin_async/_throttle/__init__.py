"""Throttling: when an attempt may be sent, and how 4008 answers move the limits.

    _protocol       the Throttle protocol, Outcome, ThrottleLimits
    _adaptive       AdaptivePolicy and Ticket: the limits as a pure function of events and times
    _cap            ConcurrencyCap: a semaphore whose limit can move
    _local          LocalThrottle: the in-process throttle (aiolimiter bucket + cap)
    _sharing        one LocalThrottle per key, gateway and limits in a process
    _redis*         RedisThrottle, its Lua scripts (the policy's twin) and its wake-ups
"""
