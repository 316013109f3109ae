"""Inkless: a paperless-office bridge over mail, calendars and chat."""

__version__ = "0.1.0"
