"""The central REST server (to come): FastAPI, one package per domain (auth, people, devices,
presence, faces, bookings, recruitment, notifications) with Alembic migrations."""
