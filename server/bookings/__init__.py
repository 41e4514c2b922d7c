"""Room bookings: rooms and seats, bookings and series, approval, check-in by presence, calendars."""
