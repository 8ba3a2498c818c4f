"""What the demo store sells: the category tree and, for every leaf category, the words its products are made of.

Names are composed from a pattern (e.g. "{series} {feature} {noun}"), so a leaf with a handful of words yields
hundreds of plausible, distinct products. Description sentences may use the placeholders {name}, {brand},
{feature} and {warranty}, and any attribute of the leaf (e.g. {material}); the values of the attributes in
PROSE_LOWERCASE are lower-cased in sentences ("made of teak") unless they are names ("Gore-Tex").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

VariantKind = Literal["single", "colour", "apparel", "shoes", "phone", "laptop", "volume", "format"]

PRODUCT_PATTERNS = ("{series} {feature} {noun}", "{series} {feature} {feature2} {noun}", "{series} {noun}")
TITLE_PATTERNS = ("The {feature} {noun}", "{noun} of the {feature} {noun2}", "A {feature} {noun}")

SERIES = (
    "Alpine", "Sonora", "Nova", "Terra", "Aurora", "Summit", "Harbor", "Cedar", "Lumen", "Vela", "Orbit",
    "Echo", "Atlas", "Kestrel", "Willow", "Pioneer", "Metro", "Coastal", "Ember", "Zephyr", "Halo", "Nimbus",
    "Tundra", "Meridian", "Solstice", "Drift", "Ridge", "Juniper", "Marlow", "Aspen", "Sierra", "Boreal",
    "Cascade", "Fjord", "Granite", "Haven", "Ion", "Lark", "Mistral", "Onyx", "Pebble", "Quartz", "Rowan",
    "Sable", "Tidal", "Umber", "Vista", "Wren", "Yarrow", "Zenith",
)  # fmt: skip
SUFFIXES = ("", "", "", " 2", " Pro", " Lite", " Max", " Plus", " Mini", " X")

APPAREL_SIZES = ("XS", "S", "M", "L", "XL", "XXL")
SHOE_SIZES = ("6", "7", "8", "9", "10", "11", "12")
BASIC_COLOURS = ("Black", "White", "Navy", "Grey", "Red", "Olive", "Sand", "Forest Green", "Burgundy", "Sky Blue")
TECH_COLOURS = ("Black", "White", "Silver", "Midnight Blue", "Graphite", "Rose Gold", "Sage")
HOME_COLOURS = ("Cream", "Charcoal", "Terracotta", "Sage", "Slate Blue", "Oatmeal", "Mustard")

CLOSING_SENTENCES = (
    "Backed by a {warranty} warranty and free returns within 30 days.",
    "Ships in recyclable packaging, usually within one business day.",
    "Thousands of customers rate {brand} for quality they can feel from the first day.",
    "If it is not right for you, send it back within 30 days for a full refund.",
    "Designed by {brand} and tested to last for years of everyday use.",
)
WARRANTIES = ("1-year", "2-year", "3-year")
PROSE_LOWERCASE = frozenset({"material", "scent_family", "skin_type", "finish", "light", "sensor", "display"})


@dataclass(frozen=True)
class ProductSpec:
    brands: tuple[str, ...]
    nouns: tuple[str, ...]
    features: tuple[str, ...]
    price: tuple[int, int]
    sentences: tuple[str, ...]
    variants: VariantKind = "single"
    attributes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Colours the product comes in; products without variants by colour get one as an attribute, if any.
    colours: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ("",)
    patterns: tuple[str, ...] = PRODUCT_PATTERNS
    # Every store built with this leaf has at least one product called like this, so searches for it always work.
    anchor: str = ""
    weight: int = 3
    shape: Literal["circle", "square", "hexagon", "triangle"] = "circle"


@dataclass(frozen=True)
class CategorySpec:
    name: str
    slug: str
    description: str
    hue: float = 0.0
    children: tuple[CategorySpec, ...] = ()
    products: ProductSpec | None = None


def leaf(name: str, slug: str, description: str, products: ProductSpec) -> CategorySpec:
    return CategorySpec(name=name, slug=slug, description=description, products=products)


ELECTRONICS = CategorySpec(
    "Electronics",
    "electronics",
    "Phones, laptops, headphones and the gadgets that make every day a little easier.",
    hue=0.58,
    children=(
        leaf(
            "Headphones",
            "headphones",
            "Over-ear, on-ear and in-ear headphones for music, calls and quiet focus.",
            ProductSpec(
                brands=("Sonora", "Auralis", "Beatline", "Quietwave", "Fidelio"),
                nouns=("Headphones", "Earbuds", "Headset", "Headphones"),
                features=("Bluetooth", "Wireless", "Noise-Cancelling", "Over-Ear", "In-Ear", "Sport", "Studio"),
                price=(29, 399),
                variants="colour",
                colours=TECH_COLOURS,
                suffixes=SUFFIXES,
                attributes={
                    "connectivity": ("Bluetooth 5.3", "Bluetooth 5.2", "Wired (3.5 mm)", "USB-C"),
                    "battery_life": ("20 hours", "30 hours", "40 hours", "60 hours"),
                },
                sentences=(
                    "The {name} deliver rich, detailed sound with deep bass and crisp highs.",
                    "Connect over {connectivity} and enjoy up to {battery_life} of playback on a single charge.",
                    "Soft memory-foam cushions keep them comfortable through long flights and longer playlists.",
                    "Built-in microphones make calls clear, even on a busy street.",
                    "Fold them flat into the included case and take them anywhere.",
                ),
                anchor="Bluetooth Noise-Cancelling Headphones",
                weight=5,
            ),
        ),
        leaf(
            "Phones",
            "phones",
            "Unlocked smartphones with great cameras and all-day batteries.",
            ProductSpec(
                brands=("Pixelon", "Novaphone", "Zentro", "Kairo"),
                nouns=("Smartphone", "Phone"),
                features=("5G", "Dual-SIM", "Compact", "Rugged", "Camera"),
                price=(199, 1199),
                variants="phone",
                colours=TECH_COLOURS,
                suffixes=SUFFIXES,
                attributes={"screen_size": ('6.1"', '6.4"', '6.7"'), "camera": ("48 MP", "50 MP", "108 MP")},
                sentences=(
                    "The {name} pairs a bright {screen_size} display with a {camera} main camera.",
                    "An all-day battery and fast charging keep you going from the first alarm to the last message.",
                    "Unlocked for every major carrier, with five years of security updates.",
                    "Its water-resistant body shrugs off rain and spills.",
                ),
                shape="square",
            ),
        ),
        leaf(
            "Laptops",
            "laptops",
            "Thin-and-light notebooks, workstations and everyday laptops.",
            ProductSpec(
                brands=("Corvid", "Lumina", "Aperta", "Northbook"),
                nouns=("Laptop", "Notebook", "Ultrabook"),
                features=("Thin", "Creator", "Business", "Gaming", "Convertible", "14-inch", "16-inch"),
                price=(499, 2499),
                variants="laptop",
                colours=TECH_COLOURS,
                suffixes=SUFFIXES,
                attributes={"processor": ("8-core", "10-core", "12-core"), "display": ("IPS", "OLED", "Mini-LED")},
                sentences=(
                    "The {name} runs a fast {processor} processor behind a sharp {display} display.",
                    "A backlit keyboard, a precise glass trackpad and a full-HD webcam make every meeting easy.",
                    "Its aluminium chassis weighs less than most paperbacks.",
                    "Up to 18 hours of battery life means you can leave the charger at home.",
                ),
                shape="square",
            ),
        ),
        leaf(
            "Tablets",
            "tablets",
            "Tablets for reading, drawing and streaming.",
            ProductSpec(
                brands=("Lumina", "Pixelon", "Slateon"),
                nouns=("Tablet", "E-Reader", "Drawing Tablet"),
                features=("10-inch", "Kids", "Paper-Like", "Wi-Fi", "LTE"),
                price=(89, 999),
                variants="colour",
                colours=TECH_COLOURS,
                suffixes=SUFFIXES,
                attributes={"storage": ("64 GB", "128 GB", "256 GB")},
                sentences=(
                    "The {name} has {storage} of storage for books, films and sketches.",
                    "Its anti-glare screen is easy on the eyes, indoors and out.",
                    "Parental controls and profiles make it easy to share with the whole family.",
                ),
                shape="square",
            ),
        ),
        leaf(
            "Cameras",
            "cameras",
            "Mirrorless cameras, action cameras and lenses.",
            ProductSpec(
                brands=("Optiq", "Kestrel Optics", "Fotona"),
                nouns=("Camera", "Action Camera", "Mirrorless Camera", "Lens"),
                features=("4K", "Waterproof", "Full-Frame", "Compact", "Vlogging"),
                price=(149, 2199),
                colours=("Black", "Silver", "Graphite"),
                suffixes=SUFFIXES,
                attributes={"sensor": ("APS-C", "Full-frame", '1"'), "resolution": ("24 MP", "33 MP", "45 MP")},
                sentences=(
                    "The {name} captures sharp {resolution} stills on its {sensor} sensor.",
                    "Fast autofocus tracks eyes and faces, so moving subjects stay sharp.",
                    "Record smooth 4K video and share it straight to your phone over Wi-Fi.",
                ),
            ),
        ),
        leaf(
            "Speakers & Smart Home",
            "smart-home",
            "Speakers, smart plugs, doorbells and lighting you can control from your phone.",
            ProductSpec(
                brands=("Homely", "Sonora", "Brightnest", "Vigil"),
                nouns=("Speaker", "Smart Plug", "Video Doorbell", "Smart Bulb", "Soundbar"),
                features=("Bluetooth", "Wi-Fi", "Portable", "Waterproof", "Voice-Controlled"),
                price=(19, 499),
                variants="colour",
                colours=TECH_COLOURS,
                suffixes=SUFFIXES,
                attributes={"connectivity": ("Wi-Fi", "Bluetooth 5.3", "Zigbee", "Thread")},
                sentences=(
                    "The {name} connects over {connectivity} and sets up in under two minutes.",
                    "Control it from the app, with your voice or on a schedule.",
                    "Works with the major smart-home platforms out of the box.",
                ),
            ),
        ),
    ),
)

HOME = CategorySpec(
    "Home & Kitchen",
    "home-kitchen",
    "Cookware, appliances and soft furnishings for a home you love spending time in.",
    hue=0.08,
    children=(
        leaf(
            "Cookware",
            "cookware",
            "Pans, pots and bakeware for everyday cooking.",
            ProductSpec(
                brands=("Forge & Field", "Casaluce", "Ironleaf", "Cookwell"),
                nouns=("Frying Pan", "Saucepan", "Dutch Oven", "Wok", "Baking Tray", "Stockpot"),
                features=("Non-Stick", "Cast-Iron", "Stainless Steel", "Enamelled", "Induction-Ready"),
                price=(15, 249),
                variants="colour",
                colours=HOME_COLOURS,
                attributes={"material": ("Cast iron", "Stainless steel", "Carbon steel", "Ceramic")},
                sentences=(
                    "The {name} is made of {material} that heats evenly with no hot spots.",
                    "Oven-safe to 260 °C and suitable for every hob, including induction.",
                    "The riveted handle stays cool and gives a steady grip.",
                    "Dishwasher safe, though a quick hand wash keeps it looking new.",
                ),
                shape="circle",
            ),
        ),
        leaf(
            "Small Appliances",
            "small-appliances",
            "Coffee makers, blenders, kettles and air fryers.",
            ProductSpec(
                brands=("Brewmaster", "Kitchenly", "Vortexa", "Casaluce"),
                nouns=("Coffee Maker", "Blender", "Kettle", "Air Fryer", "Toaster", "Espresso Machine"),
                features=("Programmable", "Compact", "Stainless Steel", "Quiet", "Smart", "Digital"),
                price=(25, 699),
                colours=HOME_COLOURS,
                attributes={"power": ("800 W", "1200 W", "1500 W", "2000 W"), "capacity": ("1 L", "1.5 L", "1.7 L")},
                sentences=(
                    "The {name} packs {power} of power into a countertop-friendly design.",
                    "A {capacity} capacity is just right for a family breakfast.",
                    "Automatic shut-off and cool-touch walls make it safe around the kitchen.",
                    "Removable parts go straight into the dishwasher.",
                ),
                shape="square",
            ),
        ),
        leaf(
            "Bedding",
            "bedding",
            "Duvets, sheets and pillows for a better night's sleep.",
            ProductSpec(
                brands=("Nightfall", "Linenhaus", "Cloudrest"),
                nouns=("Duvet Cover Set", "Fitted Sheet", "Pillow", "Duvet", "Throw Blanket"),
                features=("Organic Cotton", "Linen", "Percale", "Sateen", "Hypoallergenic", "Cooling"),
                price=(19, 299),
                variants="colour",
                colours=HOME_COLOURS,
                attributes={"material": ("Organic cotton", "Linen", "Bamboo", "Cotton sateen")},
                sentences=(
                    "The {name} is woven from breathable {material} that gets softer with every wash.",
                    "It keeps you cool in summer and cosy in winter.",
                    "OEKO-TEX certified, so nothing harmful touches your skin.",
                ),
                shape="square",
            ),
        ),
        leaf(
            "Home Decor",
            "home-decor",
            "Lamps, vases, mirrors and cushions to finish a room.",
            ProductSpec(
                brands=("Casaluce", "Oak & Ivy", "Studio Nord"),
                nouns=("Table Lamp", "Vase", "Wall Mirror", "Cushion", "Candle", "Rug"),
                features=("Ceramic", "Rattan", "Handmade", "Scandinavian", "Minimalist", "Vintage"),
                price=(12, 399),
                colours=HOME_COLOURS,
                attributes={"material": ("Ceramic", "Rattan", "Oak", "Glass", "Wool")},
                sentences=(
                    "The {name} brings warm, understated style to any room.",
                    "Crafted from {material} with a hand-finished texture, no two pieces are quite alike.",
                    "Pair it with natural wood and soft textiles for a calm, layered look.",
                ),
                shape="hexagon",
            ),
        ),
    ),
)

CLOTHING_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "material": ("Cotton", "Organic cotton", "Linen", "Merino wool", "Recycled polyester")
}
CLOTHING_SENTENCES = (
    "The {name} is cut from soft {material} for comfort that lasts all day.",
    "A relaxed fit that works as well at the weekend as it does at the office.",
    "Machine washable at 30 °C and designed to keep its shape.",
    "Ethically made in certified factories.",
)

CLOTHING = CategorySpec(
    "Clothing",
    "clothing",
    "Everyday clothing, outerwear and shoes for women and men.",
    hue=0.92,
    children=(
        CategorySpec(
            "Women",
            "women",
            "Dresses, tops and knitwear for women.",
            children=(
                leaf(
                    "Dresses",
                    "womens-dresses",
                    "Day dresses, wrap dresses and summer dresses.",
                    ProductSpec(
                        brands=("Maren", "Lune & Co", "Harbor Lane", "Solene"),
                        nouns=("Dress", "Wrap Dress", "Midi Dress", "Shirt Dress"),
                        features=("Linen", "Floral", "Jersey", "Pleated", "Belted", "Summer"),
                        price=(29, 189),
                        variants="apparel",
                        colours=BASIC_COLOURS,
                        attributes=CLOTHING_ATTRIBUTES,
                        sentences=CLOTHING_SENTENCES,
                    ),
                ),
                leaf(
                    "Tops & Knitwear",
                    "womens-tops",
                    "T-shirts, blouses and jumpers for women.",
                    ProductSpec(
                        brands=("Maren", "Solene", "Fieldnote"),
                        nouns=("T-Shirt", "Blouse", "Jumper", "Cardigan", "Tank Top"),
                        features=("Organic Cotton", "Merino", "Oversized", "Striped", "Cropped", "Ribbed"),
                        price=(15, 129),
                        variants="apparel",
                        colours=BASIC_COLOURS,
                        attributes=CLOTHING_ATTRIBUTES,
                        sentences=CLOTHING_SENTENCES,
                    ),
                ),
            ),
        ),
        CategorySpec(
            "Men",
            "men",
            "Shirts, trousers and knitwear for men.",
            children=(
                leaf(
                    "Shirts",
                    "mens-shirts",
                    "Oxford shirts, flannel shirts and polos.",
                    ProductSpec(
                        brands=("Fieldnote", "Harbor Lane", "Arden & Sons"),
                        nouns=("Shirt", "Oxford Shirt", "Polo Shirt", "Overshirt"),
                        features=("Slim-Fit", "Flannel", "Linen", "Button-Down", "Short-Sleeve", "Stretch"),
                        price=(25, 119),
                        variants="apparel",
                        colours=BASIC_COLOURS,
                        attributes=CLOTHING_ATTRIBUTES,
                        sentences=CLOTHING_SENTENCES,
                    ),
                ),
                leaf(
                    "Trousers & Jeans",
                    "mens-trousers",
                    "Chinos, jeans and joggers.",
                    ProductSpec(
                        brands=("Fieldnote", "Arden & Sons", "Denimworks"),
                        nouns=("Chinos", "Jeans", "Joggers", "Cargo Trousers"),
                        features=("Slim", "Straight-Leg", "Stretch", "Relaxed", "Tapered", "Selvedge"),
                        price=(35, 149),
                        variants="apparel",
                        colours=BASIC_COLOURS,
                        attributes={"material": ("Cotton twill", "Denim", "Organic cotton", "Corduroy")},
                        sentences=CLOTHING_SENTENCES,
                    ),
                ),
            ),
        ),
        leaf(
            "Outerwear",
            "outerwear",
            "Jackets and coats for every season, from rain shells to down parkas.",
            ProductSpec(
                brands=("Northridge", "Alpine Supply", "Stormline", "Harbor Lane"),
                nouns=("Jacket", "Rain Jacket", "Parka", "Coat", "Gilet"),
                features=("Waterproof", "Insulated", "Packable", "Down", "Windproof", "Quilted", "Hooded"),
                price=(49, 399),
                variants="apparel",
                colours=BASIC_COLOURS,
                attributes={"material": ("Recycled nylon", "Waxed cotton", "Wool blend", "Gore-Tex")},
                sentences=(
                    "The {name} keeps you dry and warm with a {material} shell and taped seams.",
                    "An adjustable hood, zipped hand pockets and a two-way front zip cover every forecast.",
                    "It packs into its own pocket for travel.",
                    "Breathable lining stops you overheating on the move.",
                ),
                anchor="Waterproof Hiking Jacket",
                weight=5,
                shape="triangle",
            ),
        ),
        leaf(
            "Shoes",
            "shoes",
            "Trainers, boots and everyday shoes.",
            ProductSpec(
                brands=("Stride", "Northridge", "Trailborn", "Cobble & Co"),
                nouns=("Trainers", "Running Shoes", "Hiking Boots", "Chelsea Boots", "Loafers", "Sneakers"),
                features=("Waterproof", "Leather", "Lightweight", "Trail", "Vegan", "Cushioned"),
                price=(39, 229),
                variants="shoes",
                colours=BASIC_COLOURS,
                attributes={"material": ("Leather", "Suede", "Recycled mesh", "Canvas")},
                sentences=(
                    "The {name} combine a {material} upper with a grippy rubber sole.",
                    "A cushioned footbed and supportive heel make them easy to wear all day.",
                    "True to size; if you are between sizes we suggest going half a size up.",
                ),
                shape="triangle",
            ),
        ),
    ),
)

SPORTS = CategorySpec(
    "Sports & Outdoors",
    "sports-outdoors",
    "Gear for camping, hiking, cycling and working out.",
    hue=0.33,
    children=(
        leaf(
            "Camping",
            "camping",
            "Tents, sleeping bags and camp kitchens.",
            ProductSpec(
                brands=("Trailborn", "Basecamp", "Wildhaven"),
                nouns=("Tent", "Sleeping Bag", "Camping Stove", "Headlamp", "Camping Chair", "Cooler"),
                features=("Ultralight", "2-Person", "4-Person", "Waterproof", "Three-Season", "Folding"),
                price=(19, 599),
                colours=("Olive", "Forest Green", "Sand", "Orange", "Grey"),
                attributes={"weight": ("450 g", "900 g", "1.4 kg", "2.8 kg"), "season": ("3-season", "4-season")},
                sentences=(
                    "The {name} weighs just {weight} and is rated {season}.",
                    "It sets up in minutes, even alone and in fading light.",
                    "Durable, recycled materials stand up to years of weekends outdoors.",
                ),
                shape="triangle",
            ),
        ),
        leaf(
            "Hiking",
            "hiking",
            "Backpacks, poles and waterproof layers for the trail.",
            ProductSpec(
                brands=("Alpine Supply", "Trailborn", "Stormline", "Northridge"),
                nouns=("Backpack", "Trekking Poles", "Hiking Jacket", "Water Bottle", "Daypack"),
                features=("Waterproof", "Lightweight", "30 L", "45 L", "Insulated", "Packable"),
                price=(15, 349),
                variants="colour",
                colours=BASIC_COLOURS,
                attributes={"material": ("Ripstop nylon", "Aluminium", "Recycled polyester", "Carbon fibre")},
                sentences=(
                    "The {name} is built from tough {material} for long days on rough trails.",
                    "Every detail has been tested on mountain paths in wind, rain and snow.",
                    "Reflective details keep you visible at dusk.",
                ),
                anchor="Waterproof Hiking Jacket",
                weight=4,
                shape="triangle",
            ),
        ),
        leaf(
            "Fitness",
            "fitness",
            "Yoga mats, dumbbells and home-gym equipment.",
            ProductSpec(
                brands=("Corefit", "Pulse", "Ironworks"),
                nouns=("Yoga Mat", "Dumbbell Set", "Resistance Bands", "Kettlebell", "Foam Roller", "Jump Rope"),
                features=("Non-Slip", "Adjustable", "Eco", "Heavy-Duty", "Travel"),
                price=(9, 299),
                variants="colour",
                colours=BASIC_COLOURS,
                attributes={"material": ("Natural rubber", "TPE", "Cast iron", "Neoprene")},
                sentences=(
                    "The {name} is made of {material} with a grip that holds in the sweatiest sessions.",
                    "Compact enough to store under the bed and tough enough for daily training.",
                    "Includes a free guided workout plan from our coaches.",
                ),
                shape="hexagon",
            ),
        ),
        leaf(
            "Cycling",
            "cycling",
            "Helmets, lights and accessories for riders.",
            ProductSpec(
                brands=("Velocita", "Spoke & Chain", "Pulse"),
                nouns=("Bike Helmet", "Bike Light Set", "Bike Lock", "Cycling Gloves", "Saddle Bag"),
                features=("Rechargeable", "Aero", "Commuter", "Reflective", "Waterproof", "Lightweight"),
                price=(12, 249),
                variants="colour",
                colours=BASIC_COLOURS,
                attributes={"material": ("Polycarbonate", "Hardened steel", "Aluminium", "Recycled nylon")},
                sentences=(
                    "The {name} is made for daily commutes and long weekend rides alike.",
                    "Tough {material} construction, tested to European safety standards.",
                    "Fits most bikes without tools.",
                ),
                shape="circle",
            ),
        ),
    ),
)

BEAUTY = CategorySpec(
    "Beauty",
    "beauty",
    "Skincare, make-up and fragrance from independent and classic brands.",
    hue=0.83,
    children=(
        leaf(
            "Skincare",
            "skincare",
            "Cleansers, serums and moisturisers for every skin type.",
            ProductSpec(
                brands=("Dewlab", "Botanica", "Pure Ritual", "Aloe & Oak"),
                nouns=("Moisturiser", "Serum", "Cleanser", "Face Mask", "Eye Cream", "Sunscreen"),
                features=("Hydrating", "Vitamin C", "Retinol", "Fragrance-Free", "Brightening", "SPF 30"),
                price=(8, 89),
                attributes={"skin_type": ("Normal", "Dry", "Oily", "Sensitive", "Combination")},
                sentences=(
                    "The {name} is formulated for {skin_type} skin and absorbs in seconds.",
                    "Dermatologist tested, vegan and free from parabens.",
                    "Use morning and evening for visibly smoother skin in four weeks.",
                ),
                shape="circle",
            ),
        ),
        leaf(
            "Make-up",
            "makeup",
            "Foundations, lipsticks and palettes.",
            ProductSpec(
                brands=("Velvet Muse", "Dewlab", "Chroma"),
                nouns=("Lipstick", "Foundation", "Mascara", "Eyeshadow Palette", "Concealer", "Blush"),
                features=("Matte", "Long-Wear", "Satin", "Waterproof", "Tinted", "Volumising"),
                price=(7, 59),
                variants="colour",
                colours=("Nude", "Rose", "Berry", "Coral", "Mocha", "Classic Red"),
                attributes={"finish": ("Matte", "Satin", "Dewy", "Shimmer")},
                sentences=(
                    "The {name} glides on smoothly for a {finish} finish that lasts all day.",
                    "Cruelty-free and made without fragrance.",
                    "Buildable colour, from a soft wash to full coverage.",
                ),
                shape="hexagon",
            ),
        ),
        leaf(
            "Fragrance",
            "fragrance",
            "Perfumes and colognes.",
            ProductSpec(
                brands=("Maison Lune", "Atelier Sève", "Noir & Or"),
                nouns=("Eau de Parfum", "Eau de Toilette", "Cologne", "Body Mist"),
                features=("Amber", "Citrus", "Woody", "Floral", "Fresh", "Oud"),
                price=(19, 189),
                variants="volume",
                attributes={"scent_family": ("Floral", "Woody", "Citrus", "Oriental", "Fresh")},
                sentences=(
                    "The {name} opens with bright top notes and settles into a warm {scent_family} heart.",
                    "A long-lasting fragrance for day and evening.",
                    "Presented in a weighted glass bottle that looks beautiful on any shelf.",
                ),
                shape="circle",
            ),
        ),
    ),
)

TOYS = CategorySpec(
    "Toys & Games",
    "toys-games",
    "Building sets, board games and puzzles for all ages.",
    hue=0.13,
    children=(
        leaf(
            "Building Sets",
            "building-sets",
            "Construction toys and STEM kits.",
            ProductSpec(
                brands=("Brickwise", "Tinkerly", "Buildcraft"),
                nouns=("Building Set", "Robot Kit", "Marble Run", "Construction Kit"),
                features=("STEM", "Creative", "Space", "City", "Dinosaur", "Castle"),
                price=(12, 199),
                attributes={"age_range": ("3+", "6+", "8+", "12+"), "pieces": ("150", "500", "1,200", "2,000")},
                sentences=(
                    "The {name} contains {pieces} pieces and is suitable for ages {age_range}.",
                    "Clear step-by-step instructions make building as much fun as playing.",
                    "Compatible with the major brick systems.",
                ),
                shape="square",
            ),
        ),
        leaf(
            "Board Games",
            "board-games",
            "Family games, strategy games and party games.",
            ProductSpec(
                brands=("Meeple House", "Gamewright", "Tabletop & Co"),
                nouns=("Board Game", "Card Game", "Party Game", "Strategy Game"),
                features=("Family", "Cooperative", "Quick-Play", "Adventure", "Word", "Trivia"),
                price=(9, 89),
                attributes={"players": ("2-4", "2-6", "3-8", "1-5"), "age_range": ("6+", "8+", "10+", "14+")},
                sentences=(
                    "The {name} is for {players} players aged {age_range}, and a game takes about 45 minutes.",
                    "Easy to learn in five minutes, with enough depth to keep you coming back.",
                    "A favourite for game nights with family and friends.",
                ),
                shape="hexagon",
            ),
        ),
        leaf(
            "Puzzles",
            "puzzles",
            "Jigsaw puzzles and brain teasers.",
            ProductSpec(
                brands=("Piecemeal", "Gamewright", "Puzzle Grove"),
                nouns=("Jigsaw Puzzle", "Puzzle Box", "Brain Teaser Set"),
                features=("1000-Piece", "500-Piece", "Landscape", "Wooden", "Kids", "Panorama"),
                price=(8, 59),
                attributes={"pieces": ("300", "500", "1,000", "2,000"), "age_range": ("5+", "8+", "12+", "14+")},
                sentences=(
                    "The {name} has {pieces} thick, snug-fitting pieces with a linen finish.",
                    "Printed with plant-based inks on recycled board.",
                    "Comes with a poster of the finished picture.",
                ),
                shape="square",
            ),
        ),
    ),
)

BOOK_SENTENCES = (
    "{name} ({genre}) is the book early readers have called impossible to put down.",
    "From an award-winning author, published by {brand}.",
    "Now available in paperback, hardcover and e-book.",
    "A perfect gift for anyone who loves to lose themselves in a good book.",
)

BOOKS = CategorySpec(
    "Books",
    "books",
    "Fiction, non-fiction and cookbooks chosen by our booksellers.",
    hue=0.03,
    children=(
        leaf(
            "Fiction",
            "fiction",
            "Novels and short stories.",
            ProductSpec(
                brands=("Harbor House Press", "Lantern Books", "Quillstone"),
                nouns=("Orchard", "Lighthouse", "River", "Garden", "Winter", "Keeper", "Island", "Letters"),
                features=("Quiet", "Last", "Silver", "Hidden", "Burning", "Forgotten", "Salt", "Paper"),
                price=(9, 29),
                variants="format",
                patterns=TITLE_PATTERNS,
                attributes={"genre": ("Literary fiction", "Mystery", "Historical fiction", "Fantasy", "Thriller")},
                sentences=BOOK_SENTENCES,
                weight=4,
                shape="square",
            ),
        ),
        leaf(
            "Non-fiction",
            "non-fiction",
            "History, science, biography and ideas.",
            ProductSpec(
                brands=("Harbor House Press", "Meridian Books", "Quillstone"),
                nouns=("History", "Science", "Habits", "Ocean", "Mind", "City", "Forest", "Future"),
                features=("Brief", "Hidden", "Curious", "Secret", "Surprising", "Endless"),
                price=(12, 35),
                variants="format",
                patterns=TITLE_PATTERNS,
                attributes={"genre": ("History", "Science", "Biography", "Psychology", "Nature")},
                sentences=BOOK_SENTENCES,
                shape="square",
            ),
        ),
        leaf(
            "Cookbooks",
            "cookbooks",
            "Recipes from around the world.",
            ProductSpec(
                brands=("Lantern Books", "Meridian Books", "Saffron Press"),
                nouns=("Kitchen", "Table", "Bakery", "Pantry", "Feasts", "Suppers"),
                features=("Italian", "Plant-Based", "Weeknight", "Mediterranean", "Sunday", "Japanese"),
                price=(14, 45),
                variants="format",
                patterns=("The {feature} {noun}", "{feature} {noun}", "{feature} {noun} and {noun2}"),
                attributes={"genre": ("Cookbook",)},
                sentences=(
                    "{name} gathers over 100 {feature} recipes for every day of the week.",
                    "Beautifully photographed, with clear steps and seasonal ideas.",
                    "Published by {brand}.",
                ),
                shape="square",
            ),
        ),
    ),
)

GARDEN = CategorySpec(
    "Garden",
    "garden",
    "Tools, seeds and outdoor furniture for gardens and balconies.",
    hue=0.25,
    children=(
        leaf(
            "Garden Tools",
            "garden-tools",
            "Spades, pruners, hoses and watering cans.",
            ProductSpec(
                brands=("Greenthumb", "Oak & Ivy", "Fieldcraft"),
                nouns=("Pruning Shears", "Spade", "Garden Hose", "Watering Can", "Trowel Set", "Rake"),
                features=("Ergonomic", "Stainless Steel", "Expandable", "Heavy-Duty", "Ash-Handled"),
                price=(9, 129),
                attributes={"material": ("Stainless steel", "Carbon steel", "Ash wood", "Recycled plastic")},
                sentences=(
                    "The {name} is made of {material} and built to last a lifetime of gardening.",
                    "A comfortable grip reduces strain on long afternoons in the garden.",
                    "Hang it up by the loop for easy storage.",
                ),
                shape="triangle",
            ),
        ),
        leaf(
            "Plants & Seeds",
            "plants-seeds",
            "Seeds, bulbs and indoor plants.",
            ProductSpec(
                brands=("Seedling & Co", "Greenthumb", "Verdant"),
                nouns=("Seed Collection", "Bulb Mix", "Herb Kit", "Houseplant", "Succulent Set"),
                features=("Heirloom", "Organic", "Wildflower", "Easy-Care", "Pet-Friendly", "Kitchen"),
                price=(4, 79),
                attributes={"light": ("Full sun", "Partial shade", "Bright indirect light")},
                sentences=(
                    "The {name} thrives in {light} and is ideal for beginners.",
                    "Every order comes with a simple growing guide.",
                    "Sourced from independent growers.",
                ),
                shape="circle",
            ),
        ),
        leaf(
            "Outdoor Furniture",
            "outdoor-furniture",
            "Tables, chairs and loungers for outdoor living.",
            ProductSpec(
                brands=("Terrace", "Oak & Ivy", "Studio Nord"),
                nouns=("Garden Chair", "Bistro Set", "Sun Lounger", "Outdoor Table", "Hammock", "Parasol"),
                features=("Teak", "Folding", "Weatherproof", "Rattan", "Aluminium", "Stackable"),
                price=(39, 999),
                colours=HOME_COLOURS,
                attributes={"material": ("Teak", "Powder-coated aluminium", "Synthetic rattan", "Acacia wood")},
                sentences=(
                    "The {name} is crafted from weatherproof {material} that can stay outside all year.",
                    "Easy to assemble in under 20 minutes.",
                    "Sink into comfortable, quick-drying cushions on long summer evenings.",
                ),
                shape="square",
            ),
        ),
    ),
)

CATEGORY_TREE: tuple[CategorySpec, ...] = (ELECTRONICS, HOME, CLOTHING, SPORTS, BEAUTY, TOYS, BOOKS, GARDEN)
