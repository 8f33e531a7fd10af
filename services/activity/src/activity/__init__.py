"""The activity service: which running instances are really in use, pausing idle ones, naming
what is wrong with unhealthy ones, and sampling usage for billing."""
