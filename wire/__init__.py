"""Contracts of the wires Tuku speaks, shared by the clients (``searchapi``) and the engine.

Plain Python with no dependency on Django or on either side: ``wire.baidu`` is the Baidu Image
Search contract (docs/baidu-wire.md), ``wire.urlfetch`` the safe downloader both sides use for
images named by URL.
"""
