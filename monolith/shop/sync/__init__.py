"""The reverse sync of step 4: the catalog service's product events -> the legacy tables."""
