"""The netbird service: the mesh side of the Hetzner create saga."""
