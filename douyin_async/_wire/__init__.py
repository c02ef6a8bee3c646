"""The gateway's answer: its models, the quota it reports, and the one decoder of its bodies.

    _models   the frozen msgspec Structs, and the PHP shapes they accept
    _quota    Quota and QuotaTracker, the key's quota as the answers report it
    _decode   a body to a model, or its typed error
"""
