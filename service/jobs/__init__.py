"""Background jobs: work that takes longer than a request should, queued in the database and run by workers.

- ``queue``: the ``jobs`` table and its transitions (enqueue, claim, heartbeat, finish, reap);
- ``registry``: the kinds a worker can run (``sweep``, ``graph_rebuild``, ``training`` …) and how to add one;
- ``worker``: ``zhida worker``, running jobs one at a time with a heartbeat and their progress;
- ``kinds``, ``training``: the built-in kinds;
- ``schedule``: ``zhida scheduler``, APScheduler with its job store in the database;
- ``leader``: the lock in the database that lets one scheduler lead.

See docs/jobs.md.
"""
