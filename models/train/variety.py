"""The plants a nameplate-normalised model is trained and held out on, as plant descriptions.

`general()`: plants of six catalogue modules (multi, mono, bifacial, high-power, two thin
films) at six sites (both hemispheres, one above 55 degrees), strings of 5 to 30 modules (fewer
where 1500 V allows fewer), one to four strings, every season, sensors from clean to 3 % noise
with up to 5 % of readings lost. Held out: two modules and two sites no training plant has.

`of_plant(path)`: the variety of one described plant: its own array types at its site, over
the seasons, the weather and the sensors; held out on other seeds and dates.

Each plant is written as a plant.toml (pvflow's format, plant/examples/plant.toml) that
`pvflow simulate --plant` simulates and `PVFLOW_PLANT_DESCRIPTION` turns into the `devices`
table the scalograms take their nameplates from.
"""

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TRAIN_MODULES = [
    "Canadian Solar Inc. CS6P-250P",              # multi-c-Si, 250 W, 60 cells
    "Jinko Solar Co._ Ltd JKM400M-72HL",          # mono, 400 W, half-cell
    "Canadian Solar Inc. CS1U-430MS",             # mono, 430 W
    "LONGi Green Energy Technology Co._ Ltd. LR6-72HBD-385M",  # bifacial mono
    "First Solar_ Inc. FS-6390",                  # CdTe thin film, 390 W
    "Sunpreme Inc. SNPM-GxB-510",                 # thin film (CEC), 510 W: the high-power one
]
HELDOUT_MODULES = [
    "LG Electronics Inc. LG390N2C-A5",            # mono, 390 W
    "Miasole FLEX-03 300W",                       # CIGS thin film
]
# (name, latitude, longitude, altitude m)
TRAIN_SITES = [
    ("Tabernas", 37.09, -2.36, 500),
    ("Phoenix", 33.45, -112.07, 331),
    ("Munich", 48.14, 11.58, 519),
    ("Stockholm", 59.33, 18.07, 28),
    ("Sydney", -33.87, 151.21, 40),
    ("Johannesburg", -26.20, 28.05, 1753),
]
HELDOUT_SITES = [
    ("Santiago", -33.45, -70.67, 570),
    ("Aberdeen", 57.15, -2.09, 20),
]
SEASONS = ["01-15", "03-10", "05-05", "07-01", "08-25", "10-20"]
# (sensors preset, relative noise or None, missing rate or None): clean, the realistic preset,
# and noise up to 3 % with up to 5 % of readings lost.
SENSORS = [
    ("clean", None, None),
    ("realistic", None, None),
    ("realistic", 0.01, None),
    ("realistic", 0.02, 0.02),
    ("realistic", 0.03, 0.05),
    ("realistic", None, 0.05),
]
WEATHER = [(0.3, 2.0), (0.8, 1.0), (0.1, 4.0), (1.0, 0.0), (0.0, 6.0), (0.3, 2.0)]
# Devices of each array type in a training plant: 30 gave 47,600 windows and held-out macro-F1
# 0.84; models/README.md has the learning curve.
TRAIN_DEVICES = 60
MAX_SYSTEM_VOLTAGE = 1500.0
# Voc rises about 15 % on a cold morning: strings are sized for it.
COLD_VOC_FACTOR = 1.15


@dataclass(frozen=True)
class ArrayType:
    name: str
    module: str
    modules_per_string: int
    strings: int
    tilt: float
    azimuth: float
    mounting: str
    devices: int
    # A module given by its datasheet instead of a catalogue name: its (key, value) pairs.
    datasheet: tuple = ()


@dataclass(frozen=True)
class PlantSpec:
    name: str
    site: tuple
    arrays: tuple = field(default_factory=tuple)

    def toml(self):
        name, lat, lon, alt = self.site
        lines = ["# Written by models/train/variety.py for training; see plant/examples/plant.toml.",
                 "", "[site]", f'name = "{name}"', f"latitude = {lat}", f"longitude = {lon}",
                 f"altitude_m = {alt}", 'time_zone = "UTC"']
        first = 0
        for a in self.arrays:
            lines += ["", "[[array_type]]", f'name = "{a.name}"']
            if not a.datasheet:
                lines.append(f'module = "{a.module}"')
            lines += [f"modules_per_string = {a.modules_per_string}", f"strings = {a.strings}",
                      f"tilt = {a.tilt}", f"azimuth = {a.azimuth}", f'mounting = "{a.mounting}"',
                      f'device_range = {{ prefix = "{a.name}-", first = {first}, '
                      f'count = {a.devices}, digits = 3 }}']
            if a.datasheet:
                lines += ["", "[array_type.datasheet]"]
                lines += [f"{k} = {json.dumps(v)}" for k, v in a.datasheet]
            first += a.devices
        return "\n".join(lines) + "\n"

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.name}.toml"
        if not path.exists() or path.read_text() != self.toml():
            path.write_text(self.toml())
        return path


def module_voc(module):
    """Voc at STC of a catalogue module (plant/catalogue/cec-modules.csv)."""
    catalogue = Path(__file__).resolve().parents[2] / "plant/catalogue/cec-modules.csv"
    lines = catalogue.read_text().splitlines()
    header = lines[0].split(",")
    for line in lines[2:]:
        cells = line.split(",")
        if cells[0] == module:
            return float(cells[header.index("V_oc_ref")])
    raise SystemExit(f"module {module!r} is not in the catalogue")


def layout(module, rng):
    """Modules per string (5 to 30, as 1500 V allows) and strings (1 to 4)."""
    longest = int(MAX_SYSTEM_VOLTAGE / (COLD_VOC_FACTOR * module_voc(module)))
    longest = max(1, min(30, longest))
    shortest = min(5, longest)
    return int(rng.integers(shortest, longest + 1)), int(rng.integers(1, 5))


def facing(latitude, rng):
    """Tilt near the latitude, facing the equator give or take 20 degrees."""
    tilt = float(np.clip(abs(latitude) + rng.normal(0, 8), 5, 60))
    azimuth = (180.0 if latitude >= 0 else 0.0) + float(rng.uniform(-20, 20))
    return round(tilt, 1), round(azimuth % 360, 1)


def array_types(site, modules, devices, rng):
    arrays = []
    for k, module in enumerate(modules):
        per_string, strings = layout(module, rng)
        tilt, azimuth = facing(site[1], rng)
        mounting = ["open_rack", "close_mount", "insulated_back"][int(rng.integers(0, 3))]
        arrays.append(ArrayType(f"a{k}", module, per_string, strings, tilt, azimuth, mounting, devices))
    return tuple(arrays)


@dataclass(frozen=True)
class Variety:
    """Plant runs: (plant, start date, sensors, weather, seed) for each set."""
    train: list
    heldout: dict
    names: dict  # what the model card lists


def general(year=2026):
    rng = np.random.default_rng(20261204)
    train = []
    for s, site in enumerate(TRAIN_SITES):
        for d, season in enumerate(SEASONS):
            k = s * len(SEASONS) + d
            modules = [TRAIN_MODULES[k % 6], TRAIN_MODULES[(k + 1 + s) % 6]]
            plant = PlantSpec(f"train-{site[0].lower()}-{season}", site, array_types(site, modules, TRAIN_DEVICES, rng))
            train.append((plant, f"{year}-{season}", SENSORS[(k + s) % len(SENSORS)],
                          WEATHER[(k + 2 * s) % len(WEATHER)], 5000 + k))
    heldout = {"heldout_clean": [], "heldout_realistic": [], "heldout_noise3": []}
    k = 0
    for site in HELDOUT_SITES:
        for module in HELDOUT_MODULES:
            for season in ("02-20", "09-10"):
                plant = PlantSpec(f"heldout-{site[0].lower()}-{module.split()[0].lower()}-{season}",
                                  site, array_types(site, [module], 40, rng))
                weather = (0.2, 3.0) if k % 2 == 0 else (0.5, 1.5)
                for set_name, sensors in (("heldout_clean", ("clean", None, None)),
                                          ("heldout_realistic", ("realistic", None, None)),
                                          ("heldout_noise3", ("realistic", 0.03, 0.05))):
                    heldout[set_name].append((plant, f"{year}-{season}", sensors, weather, 9000 + k))
                k += 1
    names = {"train_modules": TRAIN_MODULES, "train_sites": [s[0] for s in TRAIN_SITES],
             "heldout_modules": HELDOUT_MODULES, "heldout_sites": [s[0] for s in HELDOUT_SITES]}
    return Variety(train, heldout, names)


def of_plant(path, year=2026):
    """One described plant's variety: its array types (30 devices each) at its site."""
    described = tomllib.loads(Path(path).read_text())
    site_table = described["site"]
    site = (site_table.get("name", "plant"), site_table["latitude"], site_table["longitude"],
            site_table.get("altitude_m", 0))
    arrays = []
    for k, a in enumerate(described["array_type"]):
        sheet = tuple(sorted(a.get("datasheet", {}).items()))
        module = a["module"] if "module" in a else dict(sheet)["name"]
        arrays.append(ArrayType(f"a{k}", module, a["modules_per_string"], a["strings"],
                                a.get("tilt", 30), a.get("azimuth", 180),
                                a.get("mounting", "open_rack"), 30, sheet))
    plant = PlantSpec(f"plant-{Path(path).stem}", site, tuple(arrays))
    train = [(plant, f"{year}-{season}", SENSORS[k % len(SENSORS)], WEATHER[k % len(WEATHER)], 7000 + k)
             for k, season in enumerate(SEASONS * 3)]
    heldout = {"heldout_clean": [], "heldout_realistic": [], "heldout_noise3": []}
    for k, season in enumerate(("02-20", "06-10", "11-10")):
        for set_name, sensors in (("heldout_clean", ("clean", None, None)),
                                  ("heldout_realistic", ("realistic", None, None)),
                                  ("heldout_noise3", ("realistic", 0.03, 0.05))):
            heldout[set_name].append((plant, f"{year}-{season}", sensors, (0.3, 2.0), 9500 + k))
    names = {"train_modules": sorted({a.module for a in arrays}), "train_sites": [site[0]],
             "heldout_modules": [], "heldout_sites": [],
             "heldout": "the same plant, other seeds and dates"}
    return Variety(train, heldout, names)
