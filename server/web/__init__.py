"""The web pages: server-rendered HTML (Jinja2) with htmx for partial updates, for students, lecturers,
assistants and the lab's staff. Pages sign in with a cookie session (``server.auth.sessions``), carry
a CSRF secret on every form, and call the same services as the API, under the same roles."""
