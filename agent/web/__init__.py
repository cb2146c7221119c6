"""The local web dashboard: aiohttp serving server-rendered pages, live values over server-sent events.

server.py   the listen check and the dashboard feature (``setup``)
app.py      the application, its guard (sessions and CSRF), rendering, ``PAGE_MODULES``
auth.py     password hashing, sessions, the login rate limit (pure, clock injected)
live.py     the recorder listener that feeds browsers through bounded queues
queries.py  what the pages read from the readings file
pages/      one module per page; templates/ and static/ hold the HTML, CSS and JS
"""
