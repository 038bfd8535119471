"""The HTTP service: FastAPI app, routes under ``/v1``, OpenLineage at ``/api/v1/lineage``."""
