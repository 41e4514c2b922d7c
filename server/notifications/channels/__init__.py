"""The channel adapters: each turns one claimed message into one request to its provider and says
what came of it (``Sent``, ``Retry`` or ``Failed``); none touches the database."""
