"""The provisioner: owns instances, their lifecycle state machine, and the compute providers."""
