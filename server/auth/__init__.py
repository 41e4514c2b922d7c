"""Auth: password login (argon2id), short JWT access tokens, rotating refresh tokens, roles."""
