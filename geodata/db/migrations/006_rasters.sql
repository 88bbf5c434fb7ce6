-- Raster surfaces built from the layers (the risk density), kept in the database as
-- Cloud-Optimised GeoTIFF bytes so that every process (the command line that grades, each
-- service worker) sees the same, current surface.
CREATE TABLE rasters (
    name       text PRIMARY KEY,
    cog        bytea NOT NULL,
    crs        text NOT NULL,
    width      integer NOT NULL,
    height     integer NOT NULL,
    cell_m     double precision NOT NULL,
    vmax       double precision NOT NULL,   -- the value the colour ramp tops out at
    built_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    source_run bigint,                      -- the grading run it was built after
    parameters jsonb NOT NULL DEFAULT '{}'::jsonb
);
