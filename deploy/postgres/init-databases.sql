-- One database per service on one server (POSTGRES_DB creates the monolith's "shop").
-- Runs once, on an empty data volume; `strangler prepare monolith` creates any that are
-- missing on an older volume.
CREATE DATABASE catalog;
CREATE DATABASE orders;
