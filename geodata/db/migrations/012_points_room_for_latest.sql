-- Room on every page of monitoring_points for the latest readings.
--
-- Each batch of readings updates last_value and last_reading_at of thousands of points. In a
-- packed table (fillfactor 100) no new row version finds room on its page, so none of those
-- updates is HOT: each writes a new version and an entry in every index of the table (the
-- GiST on geom the dearest). Measured for 5,000 points (bench/README.md, "Readings in"):
-- 113-181 ms and 40,500 WAL records packed, 22 ms and 5,000 records at fillfactor 50; the
-- table grows from about 4 to 8 MB. CLUSTER rewrites it now so every page has the room.
ALTER TABLE monitoring_points SET (fillfactor = 50);
CLUSTER monitoring_points USING monitoring_points_pkey;
ANALYZE monitoring_points;
