"""The HTTP API (aiohttp): health, journeys, operators."""
