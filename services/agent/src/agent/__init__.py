"""The instance agent: a small FastAPI app inside every instance, on port 3001.

Every call carries the instance's ``AGENT_SECRET``. This is its start: ``/healthz`` and
``/activity``; files, projects, chat and the terminal come next.
"""
