"""The social layer: actions (follows, likes, comments, reports), notifications, feeds, search."""
