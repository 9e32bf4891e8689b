"""The orders side of the anti-corruption layer: the monolith's cart, order JSON, order rows
and the reverse-sync payload <-> the orders domain's published language (``domain``)."""
