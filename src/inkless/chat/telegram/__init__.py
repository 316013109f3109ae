"""The Telegram channel: the bot inside `inkless serve` (bot.py: its life; commands.py and
buttons.py: what people send it; sender.py: the chat outbox it sends)."""
