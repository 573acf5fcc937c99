"""Timing: per member, the contact channels ranked among those consented to, and the best local
day and hour, shrunk toward the segment's pattern. ``run.build`` is the only part that reads and
writes tables and MLflow; ``engagement``, ``smoothing``, ``ranking`` and ``evaluate`` are pure."""
