"""Pact provider states for contract verification (test-only; see settings.PACT_PROVIDER_STATES).

The Pact verifier POSTs ``{"state": ..., "params": {...}, "action": "setup"|"teardown"}``
before each interaction; the matching handler wipes the catalog and seeds exactly what
the state names, through the catalog services (the only writers of catalog data).
"""
