"""People: students (NIM) and staff (NIP), their roles, consent records, PINs and erasure."""
