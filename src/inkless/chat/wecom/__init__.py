"""WeCom (企业微信): the application's API, its callback and its part of the chat outbox."""
