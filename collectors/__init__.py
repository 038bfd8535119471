"""Pull collectors: one module per source (git, GitHub, Azure ML, Docker and registries, Kubernetes).

The contract, for every collector: it is configured by a pydantic config that rejects unknown keys
and never prints secrets; it yields facts (``graph_schema.facts``) or lineage events and never
writes to a store itself; it keeps a report of what it saw, skipped and failed; and it imports its
SDK lazily, so that a missing optional dependency makes it unavailable with an install hint instead
of breaking ``lineage``. Imports ``graph_schema`` only.
"""
