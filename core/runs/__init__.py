"""What happens around a run of any kind: its work limit, its time estimate, its ``meta`` block and its save.

- ``core.runs.limit``: the dashboard's per-run work limit.
- ``core.runs.estimate``: the time estimate before Run (a spec's work times this machine's speed).
- ``core.runs.meta``: the ``meta`` block every result carries.
- ``core.runs.saved``: the one save path (dashboard, command line, import).
"""
