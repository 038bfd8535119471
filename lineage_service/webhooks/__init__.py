"""CI webhooks as lineage events: GitHub (``github``) and Azure DevOps service hooks (``azure_devops``).

Each translator is a pure module, like ``lineage_service.openlineage``: a sender's payload in, one
``lineage-event/1`` dict out (``builder.Translated``), no I/O. ``signatures`` checks who sent a
delivery; the routes in ``lineage_service.api.routes.webhooks`` tie the two to the ingestion path.
"""
