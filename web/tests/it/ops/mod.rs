//! Ops: the job queue view and its actions.

mod queue;
