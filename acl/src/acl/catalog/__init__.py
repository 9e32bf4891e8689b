"""The catalog's side of the anti-corruption layer."""
