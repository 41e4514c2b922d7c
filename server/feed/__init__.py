"""The changes feed: a journal of what kiosks must learn, and the pages a device pulls from it."""
