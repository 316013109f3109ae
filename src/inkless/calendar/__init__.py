"""Meetings and schedules: iCalendar in and out, RSVP, feeds."""
