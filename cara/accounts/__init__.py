"""Accounts: sign-up and sessions (auth), profiles and preferences, export and deletion."""
