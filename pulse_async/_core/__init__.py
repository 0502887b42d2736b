"""The pure core: no aiohttp, no asyncio, no tenacity, no I/O.

Everything that decides something lives here, so it is tested without a
network: options, validation, request building, deciphering responses,
retry decisions, ``Retry-After`` and the rate-limit arithmetic.
"""
