"""Posting art: drafts (upload, describe, publish), processing jobs, screening by the AI filter,
known-image hashes."""
