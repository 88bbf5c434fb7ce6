"""Readings of the lifeline monitoring points: a batch read and checked (`batch`), then
resolved against the points and stored, nothing lost and nothing twice (`store`)."""
