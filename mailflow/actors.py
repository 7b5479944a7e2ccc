"""Every actor module (and the sweep jobs and timer handlers they register), imported in one
place so workers and the scheduler know them all (the scheduler checks at start that every
pending timer's kind has a handler)."""

from mailflow.inbound.actors import process_inbound
from mailflow.installers.signin import send_signin_link
from mailflow.leads import sweeps as _lead_sweeps  # noqa: F401  (sweep jobs: retention, search)
from mailflow.lifecycle import actors as _lifecycle  # noqa: F401  (sweep jobs)
from mailflow.lifecycle import service as _status_timers  # noqa: F401  (timer handlers)
from mailflow.lifecycle import visits as _visit_timers  # noqa: F401  (timer handlers)
from mailflow.outbound.actors import send_email
from mailflow.ratings import actors as _ratings  # noqa: F401  (sweep jobs)
from mailflow.ratings import service as _survey_timers  # noqa: F401  (timer handlers)
from mailflow.routing.actors import route_lead_job

__all__ = ["process_inbound", "route_lead_job", "send_email", "send_signin_link"]
