"""The central REST server: FastAPI, one package per domain (auth, people, devices, presence, faces,
qr, audit, feed), SQLAlchemy 2 tables and Alembic migrations. `labgate-server --help` starts here."""
