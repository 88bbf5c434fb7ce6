"""Alarms of the lifeline monitoring points: the rules per kind (`rules`, from
`layers/rules/alarms.toml`), what a point's readings do to its alarm (`evaluate`), and the
alarms kept in the database as readings arrive and people act on them (`store`)."""
