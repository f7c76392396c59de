-- The queue view at scale. Its day figures read hourly sums (at most 24 rows per queue
-- and worker, plus the minutes of the hour the day starts in) instead of up to 1,440
-- minutes per queue and worker; the workers add to both in one statement. The given-up
-- e-mails that never went out are found from the deliveries not sent (a handful)
-- rather than by looking up the delivery of every given-up job.
CREATE TABLE job_stats_hourly (
    queue   text NOT NULL,
    hour    timestamptz NOT NULL,
    worker  text NOT NULL,
    done    bigint NOT NULL DEFAULT 0,
    failed  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, hour, worker)
);
INSERT INTO job_stats_hourly (queue, hour, worker, done, failed)
SELECT queue, date_trunc('hour', minute, 'UTC'), worker, sum(done), sum(failed)
  FROM job_stats GROUP BY 1, 2, 3;
CREATE INDEX job_stats_hourly_hour ON job_stats_hourly (hour);
CREATE INDEX job_stats_minute ON job_stats (minute);

CREATE INDEX email_deliveries_unsent ON email_deliveries (event_key) WHERE status NOT IN ('sent', 'skipped');
