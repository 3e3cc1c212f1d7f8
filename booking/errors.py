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
