"""Provider emulators: real HTTP servers on loopback that speak a provider's key API and inject faults.

The tests and the benches both use them; `python -m emulators <name> --port N` runs one on its own.
"""
