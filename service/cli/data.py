"""`onemap seed` and `onemap import`."""
from service.cli import app  # noqa: F401
