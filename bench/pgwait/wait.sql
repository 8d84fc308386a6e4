-- Samples pg_stat_activity every 0.5 ms, :samples times, for the client backends whose
-- application_name is LIKE :'app', and prints the wait events of the busiest of them,
-- then the WAL written meanwhile. Run by pgwait.sh.
CREATE TEMP TABLE pgwait_samples (pid int, ev text);
SELECT pg_current_wal_lsn() AS lsn0, clock_timestamp() AS t0 \gset
SELECT set_config('pgwait.app', :'app', false), set_config('pgwait.samples', :'samples', false) \gset
DO $$
BEGIN
  FOR i IN 1..current_setting('pgwait.samples')::int LOOP
    PERFORM pg_stat_clear_snapshot();
    INSERT INTO pgwait_samples
      SELECT pid, coalesce(wait_event_type || ':' || wait_event, 'CPU (on one or waiting for one)') || ', ' || state
      FROM pg_stat_activity
      WHERE application_name LIKE current_setting('pgwait.app') AND pid <> pg_backend_pid()
        AND backend_type = 'client backend' AND datname = current_database();
    PERFORM pg_sleep(0.0005);
  END LOOP;
END $$;
SELECT pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), :'lsn0')) AS "WAL written",
       round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 2) AS "over seconds";
WITH busiest AS (
  SELECT pid FROM pgwait_samples GROUP BY pid
  ORDER BY count(*) FILTER (WHERE ev NOT LIKE '%, idle') DESC LIMIT 1)
SELECT pid, ev AS "wait event, state", count(*) AS samples,
       round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS "%"
FROM pgwait_samples WHERE pid IN (SELECT pid FROM busiest)
GROUP BY pid, ev ORDER BY samples DESC;
