DROP TABLE leases;
DROP TABLE audit_events;
