DROP INDEX email_deliveries_unsent;
DROP INDEX job_stats_minute;
DROP TABLE job_stats_hourly;
