"""The console: server-rendered pages for operators and supervisors under `/console`.

Built by `router.console.app.build_console` and mounted by the composition root on the
router's own HTTP server. Sessions are encrypted cookies (aiohttp-session + Fernet),
passwords argon2 hashes, every form carries a CSRF token.
"""
