"""The monolith as a participant of the orders service's checkout saga (step 5).

Internal JSON endpoints under ``/_internal/`` for trusted peers only (the same guard as
``/_internal/identity``): the cart of the client's session or token, stock reservations
and releases, and clearing the cart after a confirmed order. See ``apis``.
"""
