"""Small value pools built once on the driver (Faker seeded with the run's seed plus a few
curated lists), shipped to Spark as tiny DataFrames and picked per row with a hash index
and a broadcast join. Faker never runs per row: a few thousand values in total."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field

from faker import Faker
from pyspark.sql import Column
from pyspark.sql import functions as F

# Province: (weight, IANA time zone, phone area codes, cities). Weights ~ population.
PROVINCES = {
    "ON": (0.39, "America/Toronto", ("416", "647", "905", "613", "519", "705", "289"),
           ("Toronto", "Ottawa", "Mississauga", "Brampton", "Hamilton", "London", "Markham",
            "Vaughan", "Kitchener", "Windsor", "Oakville", "Barrie", "Kingston", "Guelph")),
    "QC": (0.22, "America/Toronto", ("514", "438", "450", "418", "819"),
           ("Montréal", "Québec", "Laval", "Gatineau", "Longueuil", "Sherbrooke", "Lévis",
            "Trois-Rivières", "Terrebonne")),
    "BC": (0.135, "America/Vancouver", ("604", "778", "250", "236"),
           ("Vancouver", "Surrey", "Burnaby", "Richmond", "Kelowna", "Victoria", "Coquitlam",
            "Langley", "Abbotsford", "Nanaimo")),
    "AB": (0.115, "America/Edmonton", ("403", "587", "780", "825"),
           ("Calgary", "Edmonton", "Red Deer", "Lethbridge", "St. Albert", "Airdrie",
            "Medicine Hat", "Grande Prairie")),
    "MB": (0.036, "America/Winnipeg", ("204", "431"),
           ("Winnipeg", "Brandon", "Steinbach", "Winkler", "Selkirk")),
    "SK": (0.030, "America/Regina", ("306", "639"),
           ("Saskatoon", "Regina", "Prince Albert", "Moose Jaw", "Swift Current")),
    "NS": (0.027, "America/Halifax", ("902", "782"),
           ("Halifax", "Dartmouth", "Sydney", "Truro", "New Glasgow")),
    "NB": (0.021, "America/Moncton", ("506",),
           ("Moncton", "Saint John", "Fredericton", "Dieppe", "Miramichi")),
    "NL": (0.014, "America/St_Johns", ("709",),
           ("St. John's", "Mount Pearl", "Corner Brook", "Conception Bay South")),
    "PE": (0.004, "America/Halifax", ("902",),
           ("Charlottetown", "Summerside", "Stratford")),
}
PROVINCE_CODES = tuple(PROVINCES)

EMAIL_DOMAINS = ("gmail.com", "gmail.com", "gmail.com", "hotmail.com", "outlook.com", "yahoo.ca",
                 "yahoo.com", "icloud.com", "rogers.com", "bell.net", "shaw.ca", "telus.net",
                 "videotron.ca", "sympatico.ca", "live.ca", "protonmail.com")
BRAND_SUFFIXES = ("Farms", "Foods", "Kitchen", "Naturals", "& Co.", "Select", "Pantry", "Harvest",
                  "Gourmet", "Brothers", "Creamery", "Provisions", "Originals", "Valley")
PRODUCT_WORDS = ("Classic", "Original", "Organic", "Family Size", "Natural", "Premium", "Everyday",
                 "Homestyle", "Fresh", "Signature", "Simply", "Golden", "Hearty", "Zesty",
                 "Lightly Salted", "Gluten Free", "Reduced Fat", "Extra", "Country", "Deluxe",
                 "Farmhouse", "Northern", "Maple", "Wild", "Traditional", "Select")
PRIVATE_LABELS = ("Harvest Lane", "Value Basket")
MOVIE_WORDS_A = ("Midnight", "Silent", "Last", "Broken", "Golden", "Hidden", "Crimson", "Frozen",
                 "Lost", "Electric", "Wild", "Distant", "Final", "Burning", "Northern", "Endless")
MOVIE_WORDS_B = ("Harbour", "Orbit", "Kingdom", "Signal", "Horizon", "Frontier", "Empire", "Tide",
                 "Garden", "Protocol", "River", "Echo", "Summit", "Shadow", "Legacy", "Voyage")
GENRES = ("Action", "Animation", "Comedy", "Drama", "Family", "Horror", "Sci-Fi", "Thriller",
          "Romance", "Documentary")
CONCESSIONS = (("Popcorn Small", 6.49), ("Popcorn Large", 9.49), ("Fountain Drink", 5.29),
               ("Combo Classic", 14.99), ("Nachos", 8.49), ("Candy", 4.79), ("Hot Dog", 6.99),
               ("Bottled Water", 3.99), ("Ice Cream", 5.49), ("Combo Family", 24.99))
# Bank merchant kinds: (mcc, name suffixes, min, max amount, points per dollar, weight)
MERCHANT_KINDS = (
    ("5812", ("Bistro", "Grill", "Kitchen", "Trattoria", "Brasserie"), 18, 140, 2, 12),
    ("5814", ("Burgers", "Pizza", "Shawarma", "Sub Shop", "Cafe"), 6, 35, 2, 14),
    ("5541", ("Fuels", "Gas Bar", "Petro"), 30, 110, 1, 10),
    ("5912", ("Pharmacy", "Drug Mart"), 8, 90, 1, 8),
    ("5311", ("Department Store", "Outfitters"), 25, 300, 1, 6),
    ("4121", ("Rides", "Taxi"), 9, 60, 1, 6),
    ("5732", ("Electronics", "Tech"), 30, 900, 1, 3),
    ("4899", ("Streaming", "Cable"), 10, 45, 1, 5),
    ("5942", ("Books", "Books & Co."), 12, 80, 1, 3),
    ("7832", ("Cinemas",), 12, 60, 3, 3),
    ("4511", ("Air", "Airlines"), 150, 1200, 1, 2),
    ("7011", ("Hotel", "Inn", "Suites"), 120, 600, 1, 2),
    ("5399", ("Variety", "General Store"), 5, 80, 1, 6),
)

PER_PROVINCE = 64          # pools keyed by province are padded to this many entries


def ascii_fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _unique(values, limit: int) -> list:
    seen, out = set(), []
    for v in values:
        if v not in seen:
            seen.add(v)
            out.append(v)
            if len(out) >= limit:
                break
    return out


def sql_literal(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v}L" if abs(v) > 2 ** 31 - 1 else str(v)
    if isinstance(v, float):
        return repr(v) + "D"
    text = str(v).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def literal_array(values) -> Column:
    """A constant array column, built with one SQL expression (not one call per value)."""
    return F.expr("array(" + ", ".join(sql_literal(v) for v in values) + ")")


def province_index(province: Column) -> Column:
    return (F.array_position(literal_array(PROVINCE_CODES), province) - 1).cast("int")


@dataclass
class Pools:
    """Driver-side lists, picked per row as constant arrays indexed by a hash (the arrays
    are constants of the query plan: no join, no shuffle, nothing collected)."""
    seed: int
    lists: dict = field(default_factory=dict)        # name -> list of values (or tuples)
    by_province: dict = field(default_factory=dict)  # name -> {province: [PER_PROVINCE values]}
    _arrays: dict = field(default_factory=dict, repr=False)

    def size(self, name: str) -> int:
        return len(self.lists[name])

    def _array(self, name: str, part: int | None) -> Column:
        if (name, part) not in self._arrays:
            if name in self.by_province:
                values = [v for prov in PROVINCE_CODES for v in self.by_province[name][prov]]
            else:
                values = [v if part is None else v[part] for v in self.lists[name]]
            self._arrays[(name, part)] = literal_array(values)
        return self._arrays[(name, part)]

    def col(self, name: str, index: Column, part: int | None = None) -> Column:
        """``lists[name][index]`` (field ``part`` of tuple entries)."""
        return F.element_at(self._array(name, part), index + 1)

    def in_province(self, name: str, province: Column, index: Column) -> Column:
        """``by_province[name][province][index]``, index in [0, PER_PROVINCE)."""
        return F.element_at(self._array(name, None), province_index(province) * PER_PROVINCE + index + 1)


def build(seed: int) -> Pools:
    fake = Faker("en_CA")
    fake.seed_instance(seed)
    rnd = random.Random(seed)
    pools = Pools(seed)
    pools.lists["first_F"] = _unique((fake.first_name_female() for _ in range(6000)), 500)
    pools.lists["first_M"] = _unique((fake.first_name_male() for _ in range(6000)), 500)
    pools.lists["last"] = _unique((fake.last_name() for _ in range(20000)), 900)
    pools.lists["street"] = _unique((fake.street_name() for _ in range(4000)), 1500)
    pools.lists["domain"] = list(EMAIL_DOMAINS)
    brands = _unique((f"{fake.last_name()} {rnd.choice(BRAND_SUFFIXES)}" for _ in range(2000)), 240)
    pools.lists["brand"] = brands
    pools.lists["word"] = list(PRODUCT_WORDS)
    titles = _unique((f"{rnd.choice(('The ', '', ''))}{rnd.choice(MOVIE_WORDS_A)} {rnd.choice(MOVIE_WORDS_B)}"
                      for _ in range(2000)), 90)
    pools.lists["movie"] = [(t, rnd.choice(GENRES)) for t in titles]
    pools.lists["concession"] = list(CONCESSIONS)
    merchants = []
    weights = [k[5] for k in MERCHANT_KINDS]
    for _ in range(400):
        mcc, suffixes, lo, hi, rate, _w = rnd.choices(MERCHANT_KINDS, weights)[0]
        merchants.append((f"{fake.last_name()} {rnd.choice(suffixes)}", mcc, float(lo), float(hi), rate))
    pools.lists["merchant"] = _unique(merchants, 300)
    postal, cities, areas = {}, {}, {}
    for prov, (_w, _tz, codes, names) in PROVINCES.items():
        postal[prov] = [_postal(fake.postcode_in_province(prov)) for _ in range(PER_PROVINCE)]
        # the first cities (the biggest) appear more often
        cities[prov] = [names[min(int(rnd.paretovariate(1.2)) - 1, len(names) - 1)] for _ in range(PER_PROVINCE)]
        areas[prov] = [codes[i % len(codes)] for i in range(PER_PROVINCE)]
    pools.by_province = {"postal": postal, "city": cities, "area": areas}
    return pools


def _postal(code: str) -> str:
    code = code.replace(" ", "").upper()
    return f"{code[:3]} {code[3:]}"
