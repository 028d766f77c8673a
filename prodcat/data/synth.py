"""A deterministic synthetic product catalog in the Amazon Product Dataset 2020 schema.

The project ships one as its default data (data/default/catalog.csv), so the pipeline runs with no
download. Rows are assembled from the vocabulary tables below. The category signal lives mostly in the
product-type words and a few category-specific bullets; shared brands and marketing text, product types
that belong to several categories and a little label noise keep the task from being trivial.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

from prodcat.core.errors import InputError

AMAZON_2020_COLUMNS: tuple[str, ...] = (
    "Uniq Id",
    "Product Name",
    "Brand Name",
    "Asin",
    "Category",
    "Upc Ean Code",
    "List Price",
    "Selling Price",
    "Quantity",
    "Model Number",
    "About Product",
    "Product Specification",
    "Technical Details",
    "Shipping Weight",
    "Product Dimensions",
    "Image",
    "Variants",
    "Sku",
    "Product Url",
    "Stock",
    "Product Details",
    "Dimensions",
    "Color",
    "Ingredients",
    "Direction To Use",
    "Is Amazon Seller",
    "Size Quantity Variant",
    "Product Description",
)

# Main category -> (share of rows, median price in $). One big class and a long tail, as in the real file.
CATEGORIES: dict[str, tuple[float, float]] = {
    "Toys & Games": (0.28, 18),
    "Home & Kitchen": (0.14, 22),
    "Sports & Outdoors": (0.10, 25),
    "Clothing, Shoes & Jewelry": (0.08, 20),
    "Baby Products": (0.06, 19),
    "Arts, Crafts & Sewing": (0.06, 14),
    "Office Products": (0.045, 15),
    "Electronics": (0.045, 38),
    "Pet Supplies": (0.035, 17),
    "Beauty & Personal Care": (0.03, 16),
    "Tools & Home Improvement": (0.03, 30),
    "Grocery & Gourmet Food": (0.025, 13),
    "Patio, Lawn & Garden": (0.025, 26),
    "Health & Household": (0.025, 17),
}

# Main category -> {"Sub | Leaf" below it: its own product types}. The product-type words mostly settle the
# category: they are what a good model should learn to focus on.
PRODUCT_TYPES: dict[str, dict[str, tuple[str, ...]]] = {
    "Toys & Games": {
        "Games | Board Games": ("Board Game", "Strategy Game"),
        "Games | Card Games": ("Card Game", "Playing Cards"),
        "Games | Puzzles": ("Jigsaw Puzzle", "Floor Puzzle"),
        "Learning & Education | Science Kits & Toys": ("Science Kit", "Building Block Set", "Magnetic Tiles"),
        "Baby & Toddler Toys | Stacking & Nesting Toys": ("Stacking Rings", "Plush Toy", "Shape Sorter"),
        "Dress Up & Pretend Play | Kitchen Toys": ("Play Kitchen Set", "Toy Tea Set"),
    },
    "Home & Kitchen": {
        "Kitchen & Dining | Cookware": ("Frying Pan", "Saucepan", "Dutch Oven"),
        "Kitchen & Dining | Kitchen Utensils & Gadgets": ("Cutting Board", "Spatula Set", "Mixing Bowl Set"),
        "Kitchen & Dining | Storage & Organization": ("Food Storage Containers", "Spice Rack"),
        "Home Décor": ("Scented Candle", "Picture Frame", "Throw Pillow Cover"),
        "Bedding | Sheets & Pillowcases": ("Bed Sheet Set", "Pillowcases"),
        "Bath": ("Bath Mat", "Shower Curtain"),
    },
    "Sports & Outdoors": {
        "Sports & Fitness | Exercise & Fitness": ("Yoga Mat", "Resistance Bands", "Dumbbell Set", "Jump Rope"),
        "Sports & Fitness | Team Sports": ("Soccer Ball", "Basketball", "Baseball Glove"),
        "Outdoor Recreation | Camping & Hiking": ("Camping Tent", "Sleeping Bag", "Trekking Poles"),
        "Outdoor Recreation | Cycling": ("Bike Helmet", "Bike Light"),
        "Fan Shop": ("Team Logo Flag",),
    },
    "Clothing, Shoes & Jewelry": {
        "Women | Clothing": ("Leggings", "Maxi Dress", "Cardigan"),
        "Women | Jewelry": ("Pendant Necklace", "Stud Earrings", "Charm Bracelet"),
        "Men | Clothing": ("T-Shirt", "Hoodie", "Rain Jacket"),
        "Men | Shoes": ("Running Shoes", "Sneakers"),
        "Men | Accessories": ("Baseball Cap", "Leather Belt"),
        "Novelty & More | Clothing": ("Graphic Tee", "Crew Socks"),
    },
    "Baby Products": {
        "Feeding | Bottle-Feeding": ("Baby Bottle", "Bottle Brush"),
        "Feeding | Bibs & Burp Cloths": ("Bib Set",),
        "Nursery | Bedding": ("Crib Sheet", "Swaddle Blanket"),
        "Baby Care | Pacifiers & Teethers": ("Pacifier", "Teether"),
        "Diapering": ("Diaper Bag", "Changing Pad"),
    },
    "Arts, Crafts & Sewing": {
        "Painting, Drawing & Art Supplies | Painting": ("Acrylic Paint Set", "Canvas Panels", "Paint Brushes"),
        "Painting, Drawing & Art Supplies | Drawing": ("Watercolor Pencils", "Sketchbook", "Oil Pastels"),
        "Crafting | Paper & Paper Crafts": ("Origami Paper", "Scrapbook Paper"),
        "Sewing": ("Sewing Thread Set", "Embroidery Kit"),
        "Knitting & Crochet": ("Yarn Bundle", "Crochet Hooks"),
    },
    "Office Products": {
        "Office & School Supplies | Writing & Correction Supplies": ("Gel Pens", "Highlighters"),
        "Office & School Supplies | Paper": ("Spiral Notebook", "Sticky Notes", "Weekly Planner"),
        "Office & School Supplies | Desk Accessories": ("Desk Organizer", "Stapler", "Binder Clips"),
        "Office Electronics": ("Label Maker", "Paper Shredder"),
        "Office Furniture & Lighting": ("Monitor Stand",),
    },
    "Electronics": {
        "Computers & Accessories | Keyboards, Mice & Accessories": ("Wireless Mouse", "Mechanical Keyboard"),
        "Computers & Accessories | Cables": ("HDMI Cable", "USB Hub"),
        "Cell Phones & Accessories | Cases": ("Phone Case", "Screen Protector"),
        "Cell Phones & Accessories | Chargers": ("USB-C Charging Cable", "Power Bank", "Wall Charger"),
        "Portable Audio & Video | Headphones": ("Wireless Earbuds",),
        "Portable Audio & Video | Speakers": ("Bluetooth Speaker",),
        "Accessories & Supplies": ("Webcam", "Tripod"),
    },
    "Pet Supplies": {
        "Dogs | Toys": ("Dog Chew Toy", "Rope Toy"),
        "Dogs | Collars & Leashes": ("Dog Leash", "Dog Collar"),
        "Dogs | Grooming": ("Dog Nail Clipper",),
        "Cats | Toys": ("Cat Tunnel", "Cat Teaser Wand"),
        "Cats | Litter": ("Cat Litter Mat",),
        "Cats | Beds & Furniture": ("Cat Scratching Post",),
        "Fish & Aquatic Pets": ("Aquarium Filter",),
    },
    "Beauty & Personal Care": {
        "Makeup | Eyes": ("Eyeshadow Palette", "Mascara"),
        "Makeup | Lips": ("Lip Gloss", "Lipstick Set"),
        "Skin Care | Face": ("Face Moisturizer", "Facial Cleansing Brush", "Sheet Masks"),
        "Hair Care | Styling Tools & Appliances": ("Hair Dryer", "Curling Iron"),
        "Tools & Accessories": ("Makeup Brush Set", "Nail Polish"),
    },
    "Tools & Home Improvement": {
        "Power & Hand Tools | Hand Tools": ("Screwdriver Set", "Socket Wrench Set", "Utility Knife"),
        "Power & Hand Tools | Power Tools": ("Cordless Drill", "Orbital Sander"),
        "Power & Hand Tools | Measuring & Layout Tools": ("Tape Measure", "Stud Finder", "Laser Level"),
        "Lighting & Ceiling Fans": ("Ceiling Fan",),
        "Hardware": ("Wall Anchors", "Cabinet Hinges"),
    },
    "Grocery & Gourmet Food": {
        "Beverages | Coffee": ("Ground Coffee", "Coffee Pods"),
        "Beverages | Tea": ("Green Tea Bags",),
        "Snack Foods": ("Trail Mix", "Protein Bars", "Beef Jerky"),
        "Candy & Chocolate": ("Chocolate Assortment", "Gummy Candy"),
        "Pantry Staples | Herbs, Spices & Seasonings": ("Spice Set", "Hot Sauce", "Extra Virgin Olive Oil"),
    },
    "Patio, Lawn & Garden": {
        "Gardening & Lawn Care | Plant Containers": ("Planter Pot", "Hanging Basket"),
        "Gardening & Lawn Care | Watering Equipment": ("Garden Hose", "Hose Nozzle"),
        "Gardening & Lawn Care | Hand Tools": ("Pruning Shears", "Garden Kneeler"),
        "Outdoor Décor": ("Wind Chime", "Garden Statue"),
        "Birding & Wildlife": ("Bird Feeder",),
        "Grills & Outdoor Cooking": ("Grill Brush", "Grill Cover"),
    },
    "Health & Household": {
        "Health Care | First Aid": ("First Aid Kit", "Elastic Bandages"),
        "Health Care | Thermometers": ("Digital Thermometer",),
        "Health Care | Braces & Supports": ("Knee Brace",),
        "Household Supplies | Cleaning Tools": ("Microfiber Cleaning Cloths", "Spin Mop"),
        "Household Supplies | Laundry": ("Laundry Detergent Pods",),
        "Vitamins & Dietary Supplements": ("Multivitamin Gummies", "Fish Oil Softgels"),
        "Wellness & Relaxation": ("Massage Gun",),
    },
}

# Product types that plausibly belong to several categories: product type -> {top level: "Sub | Leaf"}.
# Their rows carry no type signal, only the weaker one of the category bullets.
SHARED_TYPES: dict[str, dict[str, str]] = {
    "Water Bottle": {
        "Sports & Outdoors": "Outdoor Recreation | Camping & Hiking",
        "Home & Kitchen": "Kitchen & Dining | Travel & To-Go Drinkware",
    },
    "Insulated Tumbler": {
        "Home & Kitchen": "Kitchen & Dining | Travel & To-Go Drinkware",
        "Sports & Outdoors": "Outdoor Recreation | Camping & Hiking",
    },
    "Backpack": {
        "Clothing, Shoes & Jewelry": "Men | Accessories",
        "Sports & Outdoors": "Outdoor Recreation | Camping & Hiking",
        "Office Products": "Office & School Supplies | Desk Accessories",
    },
    "LED String Lights": {
        "Electronics": "Accessories & Supplies",
        "Home & Kitchen": "Home Décor",
        "Patio, Lawn & Garden": "Outdoor Décor | String Lights",
    },
    "LED Desk Lamp": {
        "Office Products": "Office Furniture & Lighting",
        "Home & Kitchen": "Home Décor",
        "Tools & Home Improvement": "Lighting & Ceiling Fans",
    },
    "Craft Kit for Kids": {"Toys & Games": "Learning & Education | Arts & Crafts", "Arts, Crafts & Sewing": "Crafting | Craft Kits"},
    "Coloring Book": {
        "Toys & Games": "Learning & Education | Arts & Crafts",
        "Arts, Crafts & Sewing": "Painting, Drawing & Art Supplies | Drawing",
    },
    "Stainless Steel Bowl": {
        "Pet Supplies": "Dogs | Feeding & Watering Supplies",
        "Home & Kitchen": "Kitchen & Dining | Kitchen Utensils & Gadgets",
    },
    "Storage Bins": {
        "Home & Kitchen": "Kitchen & Dining | Storage & Organization",
        "Office Products": "Office & School Supplies | Desk Accessories",
        "Baby Products": "Nursery | Storage",
    },
    "Fleece Blanket": {
        "Home & Kitchen": "Bedding | Blankets & Throws",
        "Baby Products": "Nursery | Bedding",
        "Pet Supplies": "Dogs | Beds & Furniture",
    },
    "Quick Dry Towel": {
        "Home & Kitchen": "Bath | Towels",
        "Sports & Outdoors": "Sports & Fitness | Accessories",
        "Beauty & Personal Care": "Hair Care | Accessories",
    },
    "Travel Organizer Bag": {
        "Clothing, Shoes & Jewelry": "Men | Accessories",
        "Beauty & Personal Care": "Tools & Accessories | Bags & Cases",
        "Sports & Outdoors": "Outdoor Recreation | Camping & Hiking",
    },
    "Flashlight": {
        "Tools & Home Improvement": "Lighting & Ceiling Fans",
        "Sports & Outdoors": "Outdoor Recreation | Camping & Hiking",
        "Electronics": "Accessories & Supplies",
    },
    "Scissors": {
        "Office Products": "Office & School Supplies | Desk Accessories",
        "Arts, Crafts & Sewing": "Sewing",
        "Beauty & Personal Care": "Tools & Accessories",
    },
    "Kids Headphones": {"Electronics": "Portable Audio & Video | Headphones", "Toys & Games": "Learning & Education | Kids' Electronics"},
    "Bath Toys": {"Baby Products": "Baby Care | Bathing", "Toys & Games": "Baby & Toddler Toys | Bath Toys"},
    "Lunch Box": {"Home & Kitchen": "Kitchen & Dining | Storage & Organization", "Baby Products": "Feeding | Toddler Dishes"},
    "Gloves": {
        "Tools & Home Improvement": "Hardware | Work Gloves",
        "Patio, Lawn & Garden": "Gardening & Lawn Care | Gloves",
        "Clothing, Shoes & Jewelry": "Women | Accessories",
        "Sports & Outdoors": "Sports & Fitness | Accessories",
    },
    "Costume": {"Clothing, Shoes & Jewelry": "Novelty & More | Costumes", "Toys & Games": "Dress Up & Pretend Play | Costumes"},
    "Detangling Brush": {"Beauty & Personal Care": "Hair Care | Styling Tools & Appliances", "Pet Supplies": "Dogs | Grooming"},
    "Hand Cream": {"Beauty & Personal Care": "Skin Care | Hands & Nails", "Health & Household": "Health Care | Skin Treatments"},
    "Exercise Mat": {"Sports & Outdoors": "Sports & Fitness | Exercise & Fitness", "Health & Household": "Wellness & Relaxation"},
    "Thermometer": {
        "Health & Household": "Health Care | Thermometers",
        "Home & Kitchen": "Kitchen & Dining | Kitchen Utensils & Gadgets",
        "Patio, Lawn & Garden": "Grills & Outdoor Cooking",
    },
    "Cooler Bag": {
        "Sports & Outdoors": "Outdoor Recreation | Camping & Hiking",
        "Patio, Lawn & Garden": "Grills & Outdoor Cooking",
        "Home & Kitchen": "Kitchen & Dining | Storage & Organization",
    },
    "Herbal Tea": {"Grocery & Gourmet Food": "Beverages | Tea", "Health & Household": "Vitamins & Dietary Supplements"},
    "Sticker Pack": {
        "Arts, Crafts & Sewing": "Crafting | Stickers",
        "Office Products": "Office & School Supplies | Paper",
        "Toys & Games": "Learning & Education | Arts & Crafts",
    },
    "Smart Watch": {
        "Electronics": "Cell Phones & Accessories | Smartwatches",
        "Clothing, Shoes & Jewelry": "Men | Watches",
        "Sports & Outdoors": "Sports & Fitness | Accessories",
    },
    "Extension Cord": {"Tools & Home Improvement": "Hardware | Electrical", "Electronics": "Accessories & Supplies"},
    "Night Light": {
        "Baby Products": "Nursery | Decor",
        "Home & Kitchen": "Home Décor",
        "Tools & Home Improvement": "Lighting & Ceiling Fans",
    },
}

# Bullets that only one category's sellers write: a second, weaker signal.
CATEGORY_BULLETS: dict[str, tuple[str, ...]] = {
    "Toys & Games": (
        "AGES 3 AND UP: Encourages imaginative play and early problem-solving skills.",
        "FAMILY GAME NIGHT: Quick to learn for 2 to 6 players, with plenty of replay value.",
        "WARNING: Choking hazard, small parts. Not for children under 3 years.",
    ),
    "Home & Kitchen": (
        "DISHWASHER SAFE: Oven safe up to 450°F and dishwasher safe for quick cleanup.",
        "COZY HOME: Adds a warm touch to any living room, bedroom or dining table.",
    ),
    "Sports & Outdoors": (
        "TRAIN ANYWHERE: Built for the gym, the trail and everyday workouts.",
        "OUTDOOR READY: Stands up to wind, rain and rough terrain on every hike and camping trip.",
    ),
    "Clothing, Shoes & Jewelry": (
        "TRUE TO SIZE: Please check the size chart before ordering; machine wash cold.",
        "ALL DAY COMFORT: Breathable fabric and a relaxed fit for everyday wear.",
    ),
    "Baby Products": (
        "NEWBORN SAFE: Gentle on sensitive skin and safe for babies 0-12 months.",
        "NURSERY ESSENTIAL: A must-have for new parents and a lovely baby shower gift.",
    ),
    "Arts, Crafts & Sewing": (
        "VIBRANT COLORS: Highly pigmented and blends smoothly on paper and canvas.",
        "DIY PROJECTS: Ideal for scrapbooking, card making, sewing and painting.",
    ),
    "Office Products": (
        "STAY ORGANIZED: Keeps your desk, classroom or home office neat and tidy.",
        "SMOOTH WRITING: Quick-drying, smudge-resistant ink for notes, journals and reports.",
    ),
    "Electronics": (
        "WIDE COMPATIBILITY: Works with iPhone, Samsung Galaxy, laptops and most USB-C devices.",
        "LONG BATTERY LIFE: Up to 20 hours of playtime on a single charge with fast charging.",
    ),
    "Pet Supplies": (
        "FOR DOGS AND CATS: Suits small, medium and large breeds, even aggressive chewers.",
        "HAPPY PETS: Keeps your puppy or kitten busy and away from your furniture.",
    ),
    "Beauty & Personal Care": (
        "GENTLE FORMULA: Cruelty-free, paraben-free and suitable for all skin types.",
        "SALON RESULTS: Smooth, shiny hair and a flawless look at home.",
    ),
    "Tools & Home Improvement": (
        "PRO GRADE: Hardened steel built for contractors and weekend DIY jobs.",
        "EASY INSTALLATION: Mounts in minutes with the included screws and anchors.",
    ),
    "Grocery & Gourmet Food": (
        "FRESH TASTE: Made with real ingredients, gluten free and non-GMO.",
        "PANTRY STAPLE: Store in a cool, dry place; best before date on the package.",
    ),
    "Patio, Lawn & Garden": (
        "WEATHERPROOF: UV resistant for year-round use on the patio, deck or lawn.",
        "GREEN THUMB: Helps your flowers, vegetables and backyard garden thrive.",
    ),
    "Health & Household": (
        "WELLNESS SUPPORT: Not intended to diagnose, treat, cure or prevent any disease.",
        "HOUSEHOLD ESSENTIAL: Keeps every room clean, fresh and germ free.",
    ),
}

# Marketing bullets any seller writes; they dilute the category signal.
SHARED_BULLETS: tuple[str, ...] = (
    "PERFECT GIFT: This {noun} makes a perfect gift for birthdays, Christmas and holidays.",
    "DURABLE MATERIAL: Made of premium {material} that is durable, lightweight and built to last.",
    "EASY TO CLEAN: Simply wipe with a damp cloth; easy to clean and easy to store.",
    "FOR KIDS AND ADULTS: Fun for kids and adults alike, at home, at school or on the go.",
    "SATISFACTION GUARANTEE: Not completely satisfied? Contact us and {brand} will make it right.",
    "WHAT YOU GET: 1 x {noun} in {colour} and our friendly customer service.",
    "COMPACT AND PORTABLE: Small enough to fit in a bag, drawer or car for travel.",
    "SAFE MATERIALS: Non-toxic, BPA free {material} that is safe for the whole family.",
    "MULTI-PURPOSE: Great for home, office, school, camping, travel and parties.",
    "STYLISH DESIGN: A modern {colour} finish that matches any room or outfit.",
    "HIGH QUALITY: Every {brand} {noun} is inspected before it leaves our warehouse.",
)
MAKE_SURE = "Make sure this fits by entering your model number."
DESCRIPTIONS: tuple[str, ...] = (
    "The {brand} {noun} pairs sturdy {material} with a clean {colour} look for years of everyday use.",
    "Designed by {brand}, this {noun} is simple to use and a favorite with families.",
    "Whether for yourself or as a gift, the {colour} {noun} is a practical choice you will reach for daily.",
)
RETURNS = "Go to your orders and start the return Select the ship method Ship it!"

BRANDS = (
    "Zentra",
    "Hollowbrook",
    "Pixelmint",
    "Nordvik",
    "Sunny Lane",
    "BlueRidge Co",
    "Oakhaven",
    "Luma & Co",
    "TidyNest",
    "Maple Hollow",
    "Vividly",
    "Peakline",
    "Cozy Harbor",
    "Brisa",
    "Ember & Oak",
    "Trailmate",
    "Gleamore",
    "Nimbus",
    "Rivetworks",
    "Aurora Goods",
    "Quillcraft",
    "Voltique",
    "Lumino",
    "Urban Nest",
    "Everyday Basics",
    "Kiddora",
    "Sprout & Bloom",
    "Greyfield",
)
COLOURS = ("Black", "White", "Navy Blue", "Red", "Pink", "Grey", "Green", "Multicolor", "Rose Gold", "Beige", "Purple", "Yellow", "Teal")
MATERIALS = (
    "stainless steel",
    "silicone",
    "cotton",
    "plastic",
    "bamboo",
    "wood",
    "polyester",
    "nylon",
    "aluminum",
    "canvas",
    "glass",
    "rubber",
)
ADJECTIVES = (
    "Premium",
    "Deluxe",
    "Classic",
    "Mini",
    "Portable",
    "Heavy Duty",
    "Soft",
    "Large",
    "Reusable",
    "Waterproof",
    "Adjustable",
    "Eco-Friendly",
    "Kids",
    "Professional",
    "Cute",
)
AGES = {
    "Toys & Games": ("3years and up", "6years and up", "8 - 14years"),
    "Baby Products": ("0months and up",),
    "Arts, Crafts & Sewing": ("6years and up", "8years and up"),
}
IMAGE_URL = "https://images-na.ssl-images-amazon.com/images/I/{}L.jpg"
PIXEL_URL = "https://images-na.ssl-images-amazon.com/images/G/01/x-locale/common/transparent-pixel.jpg"
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
IMAGE_ALPHABET = ALNUM + "abcdefghijklmnopqrstuvwxyz"

P_BLANK_LABEL, P_LABEL_NOISE = 0.04, 0.03
P_SHARED_TYPE, P_CATEGORY_BULLET = 0.25, 0.5
P_EMPTY_ABOUT, P_EMPTY_SPEC, P_EMPTY_TECH = 0.03, 0.12, 0.08

TOPS = tuple(CATEGORIES)  # the top-level (main) categories
# Top level -> ((sub path, product type), ...): flat, ordered tables to draw from by index.
OWN_TYPES = {top: tuple((sub, noun) for sub, nouns in PRODUCT_TYPES[top].items() for noun in nouns) for top in TOPS}
SHARED_BY_TOP = {top: tuple((paths[top], noun) for noun, paths in SHARED_TYPES.items() if top in paths) for top in TOPS}


T = TypeVar("T")


def _pick(rng: np.random.Generator, items: tuple[T, ...]) -> T:
    """One element, by index: never depends on hashing or set order."""
    return items[int(rng.integers(len(items)))]


def _code(rng: np.random.Generator, length: int, alphabet: str = ALNUM) -> str:
    """A random code (ASIN tail, image id, UPC) drawn from the seeded generator."""
    return "".join(alphabet[i] for i in rng.integers(len(alphabet), size=length))


def _category_path(rng: np.random.Generator, top: str, sub: str) -> str:
    """ "Main | Sub | Leaf", or "Main | Sub" as real listings often stop a level early."""
    levels = sub.split(" | ")
    return " | ".join([top, *(levels[:1] if rng.random() < 0.35 else levels)])


def _product_type(rng: np.random.Generator, top: str) -> tuple[str, str]:
    """(sub path, product type): the category's own type, or one shared with other categories."""
    shared = SHARED_BY_TOP[top]
    return _pick(rng, shared) if shared and rng.random() < P_SHARED_TYPE else _pick(rng, OWN_TYPES[top])


def _product_name(rng: np.random.Generator, brand: str, noun: str, colour: str) -> str:
    """Brand + adjective + product type + a size/count/colour tail, like real listing titles."""
    count = int(rng.choice([2, 3, 4, 6, 10, 12, 24]))
    tail = _pick(
        rng,
        (
            f", {count} Pack",
            f" - {colour}",
            f", {int(rng.integers(6, 40))} Inch",
            f", Set of {count}",
            f" for Kids and Adults, {colour}",
            " Gift Set",
            "",
        ),
    )
    return f"{brand} {_pick(rng, ADJECTIVES)} {noun}{tail}"


def _about(rng: np.random.Generator, top: str, fill: dict[str, str]) -> str:
    """Shared marketing bullets, sometimes one category bullet, often the "Make sure" opener."""
    n_shared = int(rng.integers(2, 4))
    picks = rng.choice(len(SHARED_BULLETS), size=n_shared, replace=False)
    bullets = [SHARED_BULLETS[i].format(**fill) for i in picks]
    if rng.random() < P_CATEGORY_BULLET:
        bullets.insert(int(rng.integers(len(bullets) + 1)), _pick(rng, CATEGORY_BULLETS[top]))
    if rng.random() < 0.8:
        bullets.insert(0, MAKE_SURE)
    return " | ".join(bullets)


def _weight(ounces: float) -> str:
    """Amazon writes light items in ounces and the rest in pounds."""
    return f"{ounces:.1f} ounces" if ounces < 16 else f"{ounces / 16:.2f}".rstrip("0").rstrip(".") + " pounds"


def _specification(rng: np.random.Generator, top: str, dims: str, ounces: float, asin: str, model: str) -> str:
    """The scraped spec table: "Key:value|Key:value", spaces squeezed out as in the real file."""
    parts = [f"ProductDimensions:{dims}", f"ItemWeight:{_weight(ounces * 0.9)}"] if rng.random() < 0.7 else []
    parts += [f"ShippingWeight:{_weight(ounces)}(Viewshippingratesandpolicies)", f"ASIN:{asin}"]
    if model:
        parts.append(f"Itemmodelnumber:{model}")
    if top in AGES and rng.random() < 0.6:
        parts.append(f"Manufacturerrecommendedage:{_pick(rng, AGES[top])}")
    return "|".join(part.replace(" ", "") for part in parts)


def _technical(rng: np.random.Generator, ounces: float, fill: dict[str, str]) -> str:
    """Free text in three scraped shapes: description + weight, "Color:" + text, or return boilerplate."""
    text = _pick(rng, DESCRIPTIONS).format(**fill)
    shape = rng.random()
    if shape < 0.5:
        return f"{text} | {_weight(ounces)} (View shipping rates and policies)"
    if shape < 0.8:
        return f"Color:{fill['colour'].title()} {text}"
    return f"{RETURNS} | {RETURNS} | {text}"


def _money(value: float) -> str:
    """ "$1,299.00": US style, thousands separated, as Amazon prints it."""
    return f"${value:,.2f}"


def _price(rng: np.random.Generator, top: str) -> str:
    """Mostly "$12.99", with the real file's mess: ranges, thousands, blanks and scraped junk."""
    value = CATEGORIES[top][1] * float(rng.lognormal(0.0, 0.75))
    if rng.random() < 0.012:
        value = min(value * rng.uniform(40, 90), 2999.0)
    value = float(np.floor(value)) + 0.99 if rng.random() < 0.4 else round(value, 2)
    value = max(value, 0.99)
    kind = rng.random()
    if kind < 0.03:
        return ""
    if kind < 0.08:
        return f"{_money(value)} - {_money(value * rng.uniform(1.2, 3.0))}"
    if kind < 0.085:
        dollars, cents = f"{value:.2f}".split(".")
        return f"$ {dollars} {cents} {_money(value * 2)} Save {_money(value)} (50%)"
    if kind < 0.095:
        dollars, cents = f"{value:.2f}".split(".")
        return f"{_money(value)} $ {dollars} . {cents}"
    return _money(value)


def _model_number(rng: np.random.Generator, brand: str) -> str:
    """~80% filled; brand prefixes with few digits, so codes repeat across a catalog."""
    kind = rng.random()
    if kind < 0.2:
        return ""
    if kind < 0.6:
        prefix = re.sub(r"[^A-Z]", "", brand.upper())[:3]
        return f"{prefix}{int(rng.integers(100, 400))}"
    if kind < 0.85:
        return str(int(rng.integers(10000, 99999)))
    return f"{int(rng.integers(10, 99))}-{int(rng.integers(1000, 9999)) * 100}"


def _slug(name: str) -> str:
    """The URL path Amazon derives from a title: its first few words, hyphen-joined."""
    words = re.sub(r"[^A-Za-z0-9 ]", " ", name).split()
    return "-".join(words[:6])


def _label(rng: np.random.Generator, top: str, sub: str) -> str:
    """The Category cell: usually the true path, sometimes blank, sometimes a random one (label noise)."""
    draw = rng.random()
    if draw < P_BLANK_LABEL:
        return ""
    if draw < P_BLANK_LABEL + P_LABEL_NOISE:
        top = _pick(rng, TOPS)
        sub = _pick(rng, OWN_TYPES[top])[0]
    return _category_path(rng, top, sub)


def _row(rng: np.random.Generator, top: str) -> dict[str, str]:
    """One product of top-level category `top`, every field drawn from `rng`."""
    brand, colour = _pick(rng, BRANDS), _pick(rng, COLOURS)
    sub, noun = _product_type(rng, top)
    fill = {"brand": brand, "noun": noun.lower(), "colour": colour.lower(), "material": _pick(rng, MATERIALS)}
    name = _product_name(rng, brand, noun, colour)
    asin = "B0" + _code(rng, 8)
    model = _model_number(rng, brand)
    ounces = float(rng.lognormal(2.7, 1.0))
    dims = " x ".join(f"{x:.1f}".removesuffix(".0") for x in rng.uniform(0.5, 20, size=3)) + " inches"
    url = f"https://www.amazon.com/{_slug(name)}/dp/{asin}"
    images = [IMAGE_URL.format(_code(rng, 10, IMAGE_ALPHABET)) for _ in range(int(rng.integers(1, 4)))]
    images += [PIXEL_URL] if rng.random() < 0.8 else []
    variants = [url] + [url.replace(asin, "B0" + _code(rng, 8)) for _ in range(int(rng.integers(1, 4)))]
    return {
        "Uniq Id": rng.bytes(16).hex(),
        "Product Name": name,
        "Category": _label(rng, top, sub),
        "Upc Ean Code": _code(rng, 12, "0123456789") if rng.random() < 0.005 else "",
        "Selling Price": _price(rng, top),
        "Model Number": model,
        "About Product": "" if rng.random() < P_EMPTY_ABOUT else _about(rng, top, fill),
        "Product Specification": "" if rng.random() < P_EMPTY_SPEC else _specification(rng, top, dims, ounces, asin, model),
        "Technical Details": "" if rng.random() < P_EMPTY_TECH else _technical(rng, ounces, fill),
        "Shipping Weight": _weight(ounces) if rng.random() < 0.88 else "",
        "Product Dimensions": f"{dims}  {_weight(ounces * 0.9)}" if rng.random() < 0.04 else "",
        "Image": "|".join(images),
        "Variants": "|".join(variants) if rng.random() < 0.2 else "",
        "Product Url": url,
        "Is Amazon Seller": "Y" if rng.random() < 0.97 else "N",
    }


def generate_catalog(n_rows: int = 2400, seed: int = 7) -> pd.DataFrame:
    """The default catalog: `n_rows` products, every column a str ("" for blank), same seed -> same frame."""
    if n_rows < 1:
        raise InputError(f"n_rows must be positive, got {n_rows}")
    rng = np.random.default_rng(seed)
    shares = np.array([CATEGORIES[top][0] for top in TOPS])
    tops = rng.choice(len(TOPS), size=n_rows, p=shares / shares.sum())
    rows = [_row(rng, TOPS[int(index)]) for index in tops]
    return pd.DataFrame({column: [row.get(column, "") for row in rows] for column in AMAZON_2020_COLUMNS}, dtype=str)


def write_catalog(path: str | Path, n_rows: int = 2400, seed: int = 7) -> None:
    """The generated catalog as UTF-8 CSV with "\\n" line ends, so the bytes are reproducible (`prodcat demo-catalog`)."""
    frame = generate_catalog(n_rows, seed)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
