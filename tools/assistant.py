"""Tools of the customer-assistant suite (an Alexa-like assistant, after Curuksu, Appendix A).

Seven small, self-contained tools for a LangChain ReAct agent: get directions vs. book a ride,
book a restaurant table vs. order a pizza vs. order a dessert, book a hotel room, and track an
order already placed. Nothing is really booked or ordered: each tool returns a short confirmation
computed deterministically from its arguments (a sha256 digest gives the confirmation number
and the times), with no randomness, no network and no file writes. Bad input never raises, it
yields a string starting with ``"error: "``.

Only the standard library is used. This file is loaded by path (``tools`` is not a package),
e.g. from ``evals/suites/assistant.yaml`` as ``../../tools/assistant.py:book_table``.
"""

import hashlib
import re

MAX_PARTY_SIZE = 30
MAX_PASSENGERS = 8
MAX_GUESTS = 12
MAX_NIGHTS = 60

TRAVEL_MODES = {"driving": 30.0, "walking": 5.0, "cycling": 15.0, "transit": 20.0}  # km/h
_MODE_ALIASES = {
    "car": "driving",
    "drive": "driving",
    "foot": "walking",
    "on foot": "walking",
    "walk": "walking",
    "bike": "cycling",
    "bicycle": "cycling",
    "cycle": "cycling",
    "bus": "transit",
    "train": "transit",
    "public transit": "transit",
    "public transport": "transit",
}
_FULFILMENTS = {
    "delivery": "delivery",
    "deliver": "delivery",
    "delivered": "delivery",
    "pickup": "pickup",
    "pick up": "pickup",
    "pick-up": "pickup",
    "collection": "pickup",
    "takeaway": "pickup",
}
PIZZA_SIZES = ("small", "medium", "large")
_ORDER_NUMBER = re.compile(r"\b([A-Z])-?(\d{4})\b")


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _clip(text: object, limit: int = 80) -> str:
    """Collapse whitespace and truncate ``text`` to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _digest(*parts: object) -> bytes:
    """A sha256 digest of the arguments (whitespace collapsed, case folded)."""
    text = "\x1f".join(" ".join(str(p).split()).casefold() for p in parts)
    return hashlib.sha256(text.encode("utf-8")).digest()


def _number(prefix: str, digest: bytes) -> str:
    """A confirmation number such as ``R-4821`` taken from ``digest``."""
    return f"{prefix}-{1000 + int.from_bytes(digest[:4], 'big') % 9000}"


def _count_error(name: str, value: object, limit: int) -> str:
    """``""`` when ``value`` is an int from 1 to ``limit``, else an error message."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        return f"error: {name} must be a whole number from 1 to {limit}, not {_clip(value, 20)}"
    return ""


def _fulfilment(value: str) -> str | None:
    """``"delivery"`` or ``"pickup"`` for the ways a user says them, else None."""
    return _FULFILMENTS.get(" ".join(str(value).split()).casefold())


def _fulfilment_error(value: str) -> str:
    return f"error: fulfilment must be 'delivery' or 'pickup', not '{_clip(value, 30)}'"


def _when(value: str) -> str:
    """The requested time, or "as soon as possible" when none is given."""
    return _clip(value, 40) or "as soon as possible"


# --------------------------------------------------------------------------------------------
# navigation and rides
# --------------------------------------------------------------------------------------------


def get_directions(destination: str, mode: str = "driving") -> str:
    """Get directions to a destination: the route's distance and the travel time.

    The route is simulated: the distance (1 to 21 km) is derived from the destination, and the
    time from the distance and the mode of travel. Nothing is booked.

    Args:
        destination: Where the user wants to go, e.g. "the Italian place on Main Street".
        mode: How the user travels: "driving", "walking", "cycling" or "transit".

    Returns:
        A one-line route summary, or a message starting with "error:".
    """
    where = _clip(destination)
    if not where:
        return "error: empty destination; say where to go"
    key = " ".join(str(mode).split()).casefold()
    travel = _MODE_ALIASES.get(key, key)
    if travel not in TRAVEL_MODES:
        return f"error: mode must be one of {', '.join(TRAVEL_MODES)}, not '{_clip(mode, 30)}'"
    digest = _digest("directions", where)
    km = 1 + int.from_bytes(digest[4:6], "big") % 200 / 10
    minutes = max(1, round(km / TRAVEL_MODES[travel] * 60))
    route = _number("N", _digest("directions", where, travel))
    return f"Directions to {where} by {travel}: {km:.1f} km, about {minutes} min (route {route})"


def book_ride(
    destination: str,
    pickup: str = "your current location",
    passengers: int = 1,
    time: str = "now",
) -> str:
    """Book a taxi (a car with a driver) to take the user to a destination.

    Args:
        destination: Where to drive to, e.g. "the airport".
        pickup: Where the driver picks the user up.
        passengers: Number of passengers (1 to 8).
        time: When to be picked up, e.g. "now" or "18:00".

    Returns:
        A one-line booking confirmation, or a message starting with "error:".
    """
    where = _clip(destination)
    if not where:
        return "error: empty destination; say where the ride should go"
    if error := _count_error("passengers", passengers, MAX_PASSENGERS):
        return error
    start = _clip(pickup, 60) or "your current location"
    when = _clip(time, 40) or "now"
    digest = _digest("ride", where, start, passengers, when)
    arrival = f"in about {3 + digest[4] % 10} min" if when.casefold() == "now" else f"at {when}"
    return (
        f"Ride booked to {where} from {start} for {passengers} passenger(s): "
        f"the driver arrives {arrival} (booking {_number('T', digest)})"
    )


# --------------------------------------------------------------------------------------------
# restaurant and food orders
# --------------------------------------------------------------------------------------------


def book_table(
    restaurant: str, party_size: int = 2, time: str = "19:00", date: str = "today"
) -> str:
    """Book (reserve) a table at a restaurant.

    Args:
        restaurant: The restaurant, e.g. "the Italian place on Main Street".
        party_size: Number of people at the table (1 to 30).
        time: Time of the reservation, e.g. "19:30".
        date: Day of the reservation, e.g. "today" or "Friday".

    Returns:
        A one-line booking confirmation, or a message starting with "error:".
    """
    name = _clip(restaurant)
    if not name:
        return "error: empty restaurant; say where to book a table"
    if error := _count_error("party_size", party_size, MAX_PARTY_SIZE):
        return error
    when = f"{_clip(date, 30) or 'today'} at {_clip(time, 30) or '19:00'}"
    number = _number("R", _digest("table", name, party_size, when))
    return f"Table booked at {name} for {party_size}, {when} (confirmation {number})"


def order_pizza(
    order: str, size: str = "medium", fulfilment: str = "delivery", when: str = ""
) -> str:
    """Order pizza from a pizzeria, for delivery or pickup.

    Args:
        order: What to order, e.g. "a pepperoni pizza from Luigi's".
        size: Pizza size: "small", "medium" or "large".
        fulfilment: "delivery" or "pickup".
        when: When it should arrive or be ready (empty: as soon as possible).

    Returns:
        A one-line order confirmation with its order number, or a message starting with
        "error:".
    """
    what = _clip(order)
    if not what:
        return "error: empty order; say which pizza to order"
    pizza_size = " ".join(str(size).split()).casefold()
    if pizza_size not in PIZZA_SIZES:
        return f"error: size must be one of {', '.join(PIZZA_SIZES)}, not '{_clip(size, 30)}'"
    how = _fulfilment(fulfilment)
    if how is None:
        return _fulfilment_error(fulfilment)
    ready = _when(when)
    digest = _digest("pizza", what, pizza_size, how, ready)
    return (
        f"Pizza order placed ({pizza_size}, {how}, {ready}): {what} "
        f"(order {_number('P', digest)}, about {20 + digest[4] % 25} min)"
    )


def order_dessert(order: str, fulfilment: str = "delivery", when: str = "") -> str:
    """Order desserts (cakes, ice cream, pastries) from a dessert shop, for delivery or pickup.

    Args:
        order: What to order, e.g. "two slices of chocolate cake".
        fulfilment: "delivery" or "pickup".
        when: When it should arrive or be ready (empty: as soon as possible).

    Returns:
        A one-line order confirmation with its order number, or a message starting with
        "error:".
    """
    what = _clip(order)
    if not what:
        return "error: empty order; say which dessert to order"
    how = _fulfilment(fulfilment)
    if how is None:
        return _fulfilment_error(fulfilment)
    ready = _when(when)
    digest = _digest("dessert", what, how, ready)
    return (
        f"Dessert order placed ({how}, {ready}): {what} "
        f"(order {_number('D', digest)}, about {15 + digest[4] % 20} min)"
    )


def track_order(order: str) -> str:
    """Track an order already placed: its status, given its order number or a description.

    The status is simulated (received, being prepared, out for delivery or delivered) and is
    the same every time for the same order.

    Args:
        order: The order number (e.g. "P-4821") or a description such as "my pizza from Luigi's".

    Returns:
        A one-line status, or a message starting with "error:".
    """
    text = _clip(order)
    if not text:
        return "error: empty order; give an order number or describe the order"
    found = _ORDER_NUMBER.search(str(order))
    label = f"{found[1]}-{found[2]}" if found else f"matching '{text}'"
    digest = _digest("status", label)
    minutes = 5 + digest[5] % 30
    status = (
        "received by the shop",
        "being prepared",
        f"out for delivery, arriving in about {minutes} min",
        "delivered",
    )[digest[4] % 4]
    return f"Order {label}: {status}"


# --------------------------------------------------------------------------------------------
# hotels
# --------------------------------------------------------------------------------------------


def book_hotel(location: str, check_in: str = "tonight", nights: int = 1, guests: int = 2) -> str:
    """Book a hotel room.

    Args:
        location: The hotel or where to stay, e.g. "near the airport" or "Lisbon".
        check_in: Arrival day, e.g. "tonight" or "Friday".
        nights: Number of nights (1 to 60).
        guests: Number of guests (1 to 12).

    Returns:
        A one-line booking confirmation, or a message starting with "error:".
    """
    where = _clip(location)
    if not where:
        return "error: empty location; say where to book a room"
    if error := _count_error("nights", nights, MAX_NIGHTS) or _count_error(
        "guests", guests, MAX_GUESTS
    ):
        return error
    arrival = _clip(check_in, 30) or "tonight"
    number = _number("H", _digest("hotel", where, arrival, nights, guests))
    return (
        f"Hotel room booked ({where}) for {guests} guest(s), {nights} night(s) from {arrival} "
        f"(confirmation {number})"
    )
