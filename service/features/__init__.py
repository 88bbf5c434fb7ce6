"""OGC API - Features without HTTP: parameters, SQL and encodings, each testable alone.

- `params`: query parameters parsed into small frozen dataclasses (400 on a bad value);
- `query`: the SQL of a page, an item, a CSV page and the grade statistics
  (`psycopg.sql` only; PostgreSQL builds the GeoJSON);
- `encode`: the FeatureCollection around the features PostgreSQL wrote, links, CSV;
- `negotiation`: which media type an `Accept` header prefers;
- `openapi` and `html`: the API description and the few HTML pages, all offline.
"""
