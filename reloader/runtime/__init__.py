"""Generic controller machinery: informers, work queue, workers, backoff, clock, leader election."""
