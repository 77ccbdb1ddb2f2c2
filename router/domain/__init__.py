"""The pure core: plain values and functions, no I/O.

The live engine, `clinic-router simulate` and the tests all call these same functions.
Nothing here imports aiohttp, SQLAlchemy, ARI or sockets.
"""
