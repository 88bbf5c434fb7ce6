"""Answers for commanders: travel times, the nearest help, the situation around an incident,
and where fire crews reach in time."""
