"""The admin console's reports (issue #19): every figure computed here, by plain functions that
return dataclasses (tests call them directly; ``mailflow.web.admin.reports`` only renders).

- ``common``: the date range and filters, and the rows they select.
- ``overview``: the reports page (leads per day, acceptance, timeouts, funnel, samples).
- ``installers``: the per-installer performance table.
- ``sources``: what each lead source is worth.
- ``service``: the service-level lists.
- ``samples``: the sweep that samples pool size, waiting line, outbox and job queues.
"""
