-- The ops view of the job queue: paused queues, worker processes, the job that claimed
-- an e-mail delivery, and the indexes the queue view and job lists read.

-- A paused queue: workers stop taking its jobs until it is resumed.
CREATE TABLE queue_pauses (
    queue      text PRIMARY KEY CONSTRAINT queue_pauses_queue_length CHECK (length(queue) <= 100),
    paused_at  timestamptz NOT NULL,
    paused_by  uuid REFERENCES users (id) ON DELETE SET NULL
);

-- Every worker process, with its heartbeat (apalis keeps one row per queue and no start).
CREATE TABLE worker_processes (
    name        text PRIMARY KEY,
    host        text NOT NULL,
    pid         integer NOT NULL,
    queues      text[] NOT NULL,
    started_at  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL
);
CREATE INDEX worker_processes_last_seen ON worker_processes (last_seen DESC, name);

-- The job whose attempt claimed a delivery: that job's next attempt takes the claim over
-- at once (the attempt that held it is gone: a job runs in one worker at a time).
ALTER TABLE email_deliveries ADD COLUMN claimed_by_job text;
CREATE INDEX email_deliveries_sending ON email_deliveries (claimed_by_job) WHERE status = 'sending';

-- Job lists, newest first (ULIDs sort by creation time), per queue.
CREATE INDEX jobs_queue_newest ON apalis.jobs (job_type, id DESC);
-- Everything not done, per queue and state: the queue view's counts read only this
-- (index only); the lists of a state other than done walk the second newest first
-- (filtering the queue: there are few).
CREATE INDEX jobs_queue_unfinished ON apalis.jobs (job_type, status, run_at)
    INCLUDE (attempts, max_attempts) WHERE status <> 'Done';
CREATE INDEX jobs_unfinished_newest ON apalis.jobs (id DESC) INCLUDE (job_type) WHERE status <> 'Done';

-- Finished executions per queue and minute as each worker process counted them
-- (flushed every few seconds): the queue view's hour and day figures read at most
-- 1,440 rows per queue and worker instead of every execution of the day.
CREATE TABLE job_stats (
    queue   text NOT NULL,
    minute  timestamptz NOT NULL,
    worker  text NOT NULL,
    done    bigint NOT NULL DEFAULT 0,
    failed  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, minute, worker)
);
