"""Running an instance: backup and restore, logs, health and metrics, failed jobs."""
