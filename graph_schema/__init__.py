"""The vocabulary of the lineage graph: node kinds, keys, edges, evidence, facts and events.

Imports nothing else from the project. ``graph_schema.events`` needs pydantic; the other modules
use the standard library only, so the CLI can resolve references without loading pydantic.
"""
