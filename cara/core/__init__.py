"""Core: config, extensions, models, the one policy, pagination, text rules, storage, tasks.

No domain imports: every area builds on these.
"""
