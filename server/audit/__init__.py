"""The audit log: every action a signed-in user takes that changes something, readable by admin and head."""
