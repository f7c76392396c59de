DROP TABLE job_stats;
DROP INDEX apalis.jobs_unfinished_newest;
DROP INDEX apalis.jobs_queue_unfinished;
DROP INDEX apalis.jobs_queue_newest;
DROP INDEX email_deliveries_sending;
ALTER TABLE email_deliveries DROP COLUMN claimed_by_job;
DROP TABLE worker_processes;
DROP TABLE queue_pauses;
