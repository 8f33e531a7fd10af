"""Sign-in: tokens, accounts, the mailer, rate limits, and who is calling."""
