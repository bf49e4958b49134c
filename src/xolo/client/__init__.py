"""Talking to a xolo server from Python: the change-feed handlers (``xolo.on``, ``xolo.every``,
``xolo.run``). The full client (sync and async, transfers, cache) is a later step."""
