"""The audit-log invariant: every successful mutating /api/v1 call the suites make shows up in the target's own
logs with the kind, performer and metadata Quay writes for it.

ledger.py records the calls (httpx hooks on every QuayClient), expectations.py is our reviewed table of what
Quay logs for each operation (and the operations it does not log), verify.py reads the target's logs and matches
them to the calls."""
