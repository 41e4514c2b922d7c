"""Notifications: contacts and preferences, the outbox that ``notify()`` writes in the caller's
transaction, the sender that drains it through email (SMTP), push (FCM) and WhatsApp, and
announcements. Other domains import ``notify`` from ``server.notifications.outbox``."""
