"""``lineage emit``: what a pipeline step knows, as a lineage event, delivered without failing the pipeline.

Small modules, each with one job, importable without typer (the CLI in ``cli/emit.py`` only parses
and prints):

- ``context``: who is running: the CI run (GitHub Actions, Azure DevOps) or the local git checkout,
  read from the environment once.
- ``values``: the arguments people type (``NAME:VERSION``, ``NAME:latest=5``, ``k=v``, image
  references) in canonical form, with errors that name the option.
- ``reports`` and ``build``: one frozen report per verb (dataset, training, model, image,
  deployment) and the lineage event it becomes, with an id derived from the CI run, the verb and
  the report, so a retried step sends the same event and the service records it once.
- ``delivery``: retries with exponential backoff and jitter on transient failures, honouring
  ``Retry-After``, bounded in attempts and time; which failures are worth keeping for later.
- ``spool``: the JSON Lines file where undelivered events wait, appended durably and flushed
  removing only what the service acknowledged.

Everything here uses the standard library and ``graph_schema``'s stdlib-only modules: ``lineage
emit`` runs in every pipeline step, so it must start fast.
"""
