"""The chat bot (Telegram Bot API, python-telegram-bot): links, notifications, short messages."""
