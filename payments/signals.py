"""Signals of ``payments`` for the apps that tell people (e-mail, web push: the messages
issue's ``notices`` outbox registers its listeners here). Each is sent after the
transaction that made the change has committed.

- ``travellers_dropped``: ``trip_id``, ``checkout_id``, ``traveller_ids``: their share
  was not paid by the deadline and the checkout went ahead without them (their seats
  released, nobody charged). Every page then says they are not travelling
  (``selectors.travel_standings``); this is the hook to tell them by e-mail too.
"""

from django.dispatch import Signal

travellers_dropped = Signal()
