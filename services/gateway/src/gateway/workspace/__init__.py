"""Working inside an instance: tickets and the proxies to its agent."""
