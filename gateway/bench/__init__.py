"""``aedgw bench``: the gateway measured as it runs, against floors of the same run.

The gateway runs as ``aedgw serve`` in its own process, the load generator in the bench
process, the delivery receiver in a third; the database is a scratch embedded server
(or ``AEDGW_DATABASE_URL``). ``harness`` runs the scenarios (one module each under
``scenarios/``) and checks that every accepted item is stored exactly once.
"""
