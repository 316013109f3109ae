"""Supervision tasks (督查督办): by mail, API and desk; reminders on working days."""
