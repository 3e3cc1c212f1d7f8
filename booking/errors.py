from django.utils.translation import gettext_lazy as _

from core.errors import Conflict, InvalidInput, NotFound


class UnknownStation(InvalidInput):
    code = "unknown_station"
    default_message = _("Unknown station.")


class SameStations(InvalidInput):
    code = "same_stations"
    default_message = _("Origin and destination must be different stations.")


class DateOutOfRange(InvalidInput):
    code = "date_out_of_range"
    default_message = _("That date is out of range.")


class DepartureNotFound(NotFound):
    code = "departure_not_found"
    default_message = _("No such departure.")


class DepartureNotBookable(InvalidInput):
    code = "departure_not_bookable"
    default_message = _("This train can no longer be booked.")


class FareNotOffered(InvalidInput):
    code = "fare_not_offered"
    default_message = _("That fare is not offered on this departure.")


class NotEligible(InvalidInput):
    code = "not_eligible"
    default_message = _("The traveller is not eligible for this.")


class CardNumberInvalid(InvalidInput):
    code = "card_number_invalid"
    default_message = _("That discount card number is not valid.")


class SeatMapInvalid(InvalidInput):
    code = "seat_map_invalid"
    default_message = _("The seat map is not valid.")


class SeatMapInUse(Conflict):
    code = "seat_map_in_use"
    default_message = _("This vehicle has departures; its seat map cannot be replaced.")


class TripNotFound(NotFound):
    """The trip does not exist, or is private and the person is not one of its travellers:
    the same answer for both."""

    code = "trip_not_found"
    default_message = _("This trip does not exist, or you are not one of its travellers.")


class EventNotFound(NotFound):
    code = "event_not_found"
    default_message = _("No such event.")


# --- The live plan ---------------------------------------------------------------------------


class SeatTaken(Conflict):
    code = "seat_taken"
    default_message = _("Someone has just taken that seat. Pick another one.")


class SeatNotOnThisTrain(InvalidInput):
    code = "seat_not_on_this_train"
    default_message = _("That seat is not on this train.")


class WrongComfortClass(InvalidInput):
    code = "wrong_comfort_class"
    default_message = _(
        "That seat is in another class than your fare. Change your fare first, or pick a "
        "seat in your class."
    )


class DepartureNotInPoll(InvalidInput):
    code = "departure_not_in_poll"
    default_message = _("That train is not one of the trip's options.")


class PollInvalid(InvalidInput):
    code = "poll_invalid"
    default_message = _("Propose between 2 and 5 trains for the trip.")


class LegSettled(Conflict):
    code = "leg_settled"
    default_message = _("The train for this leg has already been chosen.")


class LegNotFound(NotFound):
    code = "leg_not_found"
    default_message = _("This trip has no such leg.")


class NoBlockFits(Conflict):
    code = "no_block_fits"
    default_message = _("There is no block of free seats for all of you together.")


class TooManyHolds(Conflict):
    """One person holds at most ``HOLDS_PER_PERSON_PER_DEPARTURE`` seats of a departure
    at once, over all their trips."""

    code = "too_many_holds"
    default_message = _(
        "You already hold as many seats on this train as one person may, for other trips. "
        "Let one go first."
    )


class TripLocked(Conflict):
    code = "trip_locked"
    default_message = _("This trip is not being planned any more.")


class TripClosedToJoiners(Conflict):
    """A trip of the group is being paid for or is booked: a newcomer would have no seat,
    no share and no ticket, so nobody joins (and no invitation is made) any more."""

    code = "trip_closed_to_joiners"
    default_message = _(
        "This trip is already being paid for or booked: new travellers can no longer join. "
        "You can book your own seat on the same train."
    )


# --- Bookings and tickets ---------------------------------------------------------------------


class SeatsNoLongerHeld(Conflict):
    """A booking was asked for seats that are no longer held for their travellers."""

    code = "seats_no_longer_held"
    default_message = _("Some seats are no longer held for this trip.")


class TicketNotFound(NotFound):
    code = "ticket_not_found"
    default_message = _("No such ticket.")


class TicketCodeInvalid(InvalidInput):
    """A ticket code whose signature does not hold: forged or mistyped."""

    code = "ticket_code_invalid"
    default_message = _("This ticket code is not valid.")


class TicketStillValid(Conflict):
    """Someone who holds a valid ticket for a train still to come cannot stop travelling
    with the group (leave, be removed) while it is valid: nobody is left with a ticket for
    a trip they cannot see, nor the group with a seat map naming someone gone."""

    code = "ticket_still_valid"
    default_message = _(
        "This traveller holds a valid ticket for this trip. Only they can cancel it (by the "
        "fare's rules, refunded to whoever paid); they can leave the group once it is cancelled."
    )


# --- Disruptions ---------------------------------------------------------------------------


class DepartureAlreadyCancelled(Conflict):
    code = "departure_cancelled"
    default_message = _("This train is cancelled: it cannot be delayed or change vehicle.")


class DelayInvalid(InvalidInput):
    code = "delay_invalid"
    default_message = _("An arrival time after the train's scheduled arrival is needed.")


class ChoiceNotFound(NotFound):
    """No choice to make for this ticket (its train was not cancelled), or the ticket is
    not the caller's: the same answer for both."""

    code = "choice_not_found"
    default_message = _("There is nothing to choose for this ticket.")


class ChoiceAlreadyMade(Conflict):
    code = "choice_already_made"
    default_message = _("You have already chosen for this ticket.")


class ChoiceDeadlinePassed(Conflict):
    code = "choice_deadline_passed"
    default_message = _("The time to choose for this ticket is over.")


class RerouteAlreadyProposed(Conflict):
    code = "reroute_already_proposed"
    default_message = _("Another train was proposed just before you: see it on the trip page.")


class RerouteNotProposed(Conflict):
    code = "reroute_not_proposed"
    default_message = _("No other train has been proposed yet.")


class RerouteOrganiserFirst(Conflict):
    code = "reroute_organiser_first"
    default_message = _("The organiser proposes the new train first; try again a little later.")


class TrainFull(Conflict):
    code = "train_full"
    default_message = _("This train has not enough free seats for all of you.")


class RerouteWrongRoute(InvalidInput):
    code = "reroute_wrong_route"
    default_message = _("This train does not run between the same stations.")


class EveryoneRerouted(Conflict):
    code = "everyone_rerouted"
    default_message = _("Everyone who chose the new train already has a seat on it.")
