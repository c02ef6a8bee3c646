"""HTTP: the transport seam, the default aiohttp transport, an in-memory one, and bounded body reads.

    _messages   Request, Response, Stream and the Transport protocol
    _aiohttp    AiohttpTransport, the default
    _mock       MockTransport, answers from a function, for tests
    _errors     the one mapping of transport exceptions to typed, redacted errors
    _body       a body read within a size limit, decompressed as it arrives
"""
