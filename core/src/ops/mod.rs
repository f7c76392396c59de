//! What ops see and do: the job queue's counts, its jobs and their runs, the worker
//! processes, and retrying, discarding, pausing and resuming ([`queue`]).

pub mod queue;
