"""The webhooks service: users' own endpoints told of their workstation's life, signed."""
