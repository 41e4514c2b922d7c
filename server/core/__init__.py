"""What every domain shares: settings, the database, time, errors as problem+json."""
