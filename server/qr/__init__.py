"""QR fallback tokens: short-lived, Ed25519-signed, verified by kiosks offline."""
