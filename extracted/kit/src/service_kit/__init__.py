"""The HTTP plumbing every extracted service repeats, written once.

What lives here is identical in meaning across services: verifying the facade's identity
token, RFC 9457 problem details, request metrics, monolith-compatible JSON and DRF page
links, the shared parts of app wiring, of settings and of the Alembic environment. What a
service decides for itself (who may be a guest, which challenge a 401 carries, which
problem fields it documents) stays in the service and reaches this package as arguments.
"""
