"""Categories and subject boxes of the Alibaba wire on real photos (aliyun-wire §4.3, §5.5).

    .venv/bin/python bench/corpus.py ensure          # the photo packages (once)
    .venv/bin/python bench/categories.py [--only categories|subjects] [--pastes N]

Categories: every photo in the hand-labelled tables below (photos of bench/corpus.py,
photographic tuxpaint cut-outs on white as product shots, and hand-drawn boxes around objects
in the photos) goes through the network once; the prediction of engine.aliyun.categories is
scored per input the engine could use (the whole picture at 224 px, squashed or padded to a
square, the subject pass's 448 px map pooled over the whole picture or over the main subject's
cells, the main subject cropped and run at 224 px) and per threshold (MIN_SHARE). The labels
are ours, by hand: a photo is labelled with the category a shopper would file it under,
"Other" when no category fits.

Subject boxes: real object cut-outs (tuxpaint's photographic stamps, tight around the object)
are pasted with their alpha onto real background photos at seeded positions and scales; the
main box that engine.aliyun.image.subjects() finds is compared with the pasted one (IoU), and
a search with that crop is run against every cut-out stored alone on white, the way AddImage
stores it (exact cosine over the stored product vectors, which is the engine's ranking for
product instances): does the pasted object's own photo come first? The same search with the
whole picture (Crop=false) is the baseline.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
# The embedder reads its model directory from the Django settings (ENGINE_MODEL_DIR).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

import corpus
from speed import machine

from engine.aliyun import categories
from engine.aliyun import image as pictures
from engine.features import embedder as emb
from engine.features.decode import Decoded
from engine.features.extract import extract, query_vectors
from wire.aliyun import CATEGORIES, OTHER_CATEGORY

TOPS, DRESS, BOTTOMS, BAG, SHOES, ACCESSORIES, SNACK = 0, 1, 2, 3, 4, 5, 6
MAKEUP, BOTTLE, FURNITURE, TOY, UNDERWEAR, DIGITAL, OTHER = 7, 8, 9, 20, 21, 22, OTHER_CATEGORY

# bench/corpus.py photos() by file name (plasma wallpapers by their folder name).
PHOTOS: dict[str, int] = {
    # lomiri-wallpapers-16.04
    "Bridge_by_Sander_Klootwijk.jpg": OTHER,  # a bridge's cables against the sky
    "Dragonfly_by_Bolly.jpg": OTHER,  # a dragonfly on leaves
    "Picture_0B_by_freespace.jpg": SNACK,  # a fig in a red dish
    "Picture_1A_by_freespace.jpg": OTHER,  # paintbrushes
    "Wine_by_Jakkub_Mede.jpg": OTHER,  # a room: a djembe on a bean bag, a table, a speaker
    "aitzgorri_by_Aitzol_Berasategi.jpg": OTHER,  # mountains
    "analogpattern_by_Peter_Nerlich.jpg": OTHER,  # a blurred pattern
    "free_by_Peter_Nerlich.jpg": OTHER,  # lamps and a bird
    "friends_by_Aitzol_Berasategi.jpg": OTHER,  # two dogs at a door
    "greentock_by_Peter_Nerlich.jpg": OTHER,  # a clock face
    "life_by_Aitzol_Berasategi.jpg": OTHER,  # a stream in a forest
    "picosdeeuropa_by_Aitzol_Berasategi.jpg": OTHER,  # mountains
    "seeding_by_Clements_Engelhardt.jpg": OTHER,  # dandelions
    "sunset_by_Aitzol_Berasategi.jpg": OTHER,  # a sunset
    "umang_by_Abhishek_Mudgal.jpg": OTHER,  # a colour gradient
    # mate-backgrounds
    "Aqua.jpg": OTHER,  # a water drop
    "Blinds.jpg": OTHER,  # a leaf
    "Dune.jpg": OTHER,  # grass on a dune
    "Elephants_3840x2160.jpg": OTHER,  # an abstract painting
    "FreshFlower.jpg": OTHER,
    "Garden.jpg": OTHER,  # a flower
    "GreenMeadow.jpg": OTHER,  # grass
    "LadyBird.jpg": OTHER,  # a ladybird on a flower
    "RainDrops.jpg": OTHER,  # drops on a leaf
    "Storm.jpg": OTHER,  # a stormy sky
    "TwoWings.jpg": OTHER,  # a dandelion seed
    "Wood.jpg": OTHER,  # wood grain
    "YellowFlower.jpg": OTHER,
    # opencv-doc examples
    "Blender_Suzanne1.jpg": OTHER,  # a rendered monkey head
    "aero1.jpg": OTHER,  # an aerial view
    "aloeL.jpg": OTHER,  # an aloe in a pot
    "apple.jpg": SNACK,
    "baboon.jpg": OTHER,
    "basketball1.png": OTHER,  # two men in a corridor
    "board.jpg": OTHER,  # a circuit board
    "box_in_scene.png": OTHER,  # books and boxes
    "building.jpg": OTHER,
    "butterfly.jpg": OTHER,
    "ela_original.jpg": OTHER,  # the back of a car
    "fruits.jpg": SNACK,
    "graf1.png": OTHER,  # graffiti
    "home.jpg": OTHER,  # a room
    "leuvenA.jpg": OTHER,  # a street
    "left.jpg": OTHER,  # a stereo scene of objects
    "left01.jpg": OTHER,  # a chessboard held up
    "licenseplate_motion.jpg": OTHER,
    "messi5.jpg": OTHER,  # a football player
    "orange.jpg": SNACK,
    "pca_test1.jpg": OTHER,  # a notebook
    "rubberwhale1.png": OTHER,  # toy scene, mostly wallpaper
    "smarties.png": SNACK,  # sweets
    "squirrel_cls.jpg": OTHER,
    "starry_night.jpg": OTHER,  # the painting
    "stuff.jpg": OTHER,  # a pencil, a lighter, a coin
    "sudoku.png": OTHER,
    "text_defocus.jpg": OTHER,
    "HappyFish.jpg": OTHER,  # a drawing
    # scikit-image data
    "astronaut.png": OTHER,
    "brick.png": OTHER,
    "camera.png": OTHER,  # a man filming
    "chelsea.png": OTHER,  # a cat
    "coffee.png": OTHER,  # a cup of coffee (a drink, not a bottled one)
    "coins.png": OTHER,
    "grass.png": OTHER,
    "gravel.png": OTHER,
    "hubble_deep_field.jpg": OTHER,
    "ihc.png": OTHER,  # a stained tissue slide
    "motorcycle_left.png": OTHER,
    "retina.jpg": OTHER,
    "rocket.jpg": OTHER,
    "page.png": OTHER,  # a printed page
    "text.png": OTHER,
    "moon.png": OTHER,
    "cell.png": OTHER,
    "clock_motion.png": OTHER,
    # plasma-workspace-wallpapers: landscapes, abstract art and renderings
    **dict.fromkeys(
        (
            "Altai",
            "Autumn",
            "BytheWater",
            "Canopee",
            "Cascade",
            "Cluster",
            "ColdRipple",
            "ColorfulCups",
            "DarkestHour",
            "Elarun",
            "EveningGlow",
            "FallenLeaf",
            "Flow",
            "FlyingKonqui",
            "Grey",
            "Honeywave",
            "IceCold",
            "Kay",
            "Kite",
            "Kokkini",
            "MilkyWay",
            "OneStandsOut",
            "Opal",
            "PastelHills",
            "Patak",
            "Path",
            "SafeLanding",
            "Shell",
            "Volna",
            "summer_1am",
        ),
        OTHER,
    ),
}

# tuxpaint-stamps-default photographic cut-outs (paths under its stamps/ folder), shown on
# white like a product shot. Its drawings (the clothes, hats, cartoon folders) are left out.
STAMPS: dict[str, int] = {
    "animals/amphibians/frog-1.png": OTHER,
    "animals/birds/blackbird.png": OTHER,
    "animals/birds/cuckoo.png": OTHER,
    "animals/birds/guineafowl.png": OTHER,
    "animals/birds/heron_greatblue_flying.png": OTHER,
    "animals/birds/magpie.png": OTHER,
    "animals/birds/peacock.png": OTHER,
    "animals/birds/pink_flamingo.png": OTHER,
    "animals/birds/seagull.png": OTHER,
    "animals/birds/vulture.png": OTHER,
    "animals/fish/coraltrout.png": OTHER,
    "animals/fish/moonwrasse.png": OTHER,
    "animals/insects/Brown_slug.png": OTHER,
    "animals/insects/grasshopper.png": OTHER,
    "animals/insects/xanthia.png": OTHER,
    "animals/mammals/apes/tamarin_emperor.png": OTHER,
    "animals/mammals/aquatic/sea_lion.png": OTHER,
    "animals/mammals/bears/european-bear.png": OTHER,
    "animals/mammals/bears/toys/edward_bear.png": TOY,  # a teddy bear
    "animals/mammals/bovines/cow.png": OTHER,
    "animals/mammals/bovines/gnu-sitting.png": OTHER,
    "animals/mammals/bovines/mountaingoat.png": OTHER,
    "animals/mammals/bovines/yak.png": OTHER,
    "animals/mammals/cats/lion-2.png": OTHER,
    "animals/mammals/deer/caribou.png": OTHER,
    "animals/mammals/dogs/dingo.png": OTHER,
    "animals/mammals/elephant.png": OTHER,
    "animals/mammals/equines/zebra.png": OTHER,
    "animals/mammals/hippopotamus.png": OTHER,
    "animals/mammals/rabbit_little.png": OTHER,
    "animals/mammals/rodents/marmot.png": OTHER,
    "animals/mammals/rodents/rat.png": OTHER,
    "animals/marsupials/koala.png": OTHER,
    "clothes/button.png": OTHER,
    "clothes/clothespin_new.png": OTHER,
    "clothes/clothespin_old.png": OTHER,
    "food/fruit/Apricot_whole.png": SNACK,
    "food/fruit/Cherry_Stella.png": SNACK,
    "food/fruit/Strawberry2.png": SNACK,
    "food/fruit/apple_fuji.png": SNACK,
    "food/fruit/apple_granny_smith.png": SNACK,
    "food/fruit/apple_green.png": SNACK,
    "food/fruit/apple_red.png": SNACK,
    "food/fruit/apple_sierra_beauty.png": SNACK,
    "food/fruit/apricot.png": SNACK,
    "food/fruit/avocado.png": SNACK,
    "food/fruit/banana.png": SNACK,
    "food/fruit/cherimoya.png": SNACK,
    "food/fruit/grapes.png": SNACK,
    "food/fruit/kiwi.png": SNACK,
    "food/fruit/lemon.png": SNACK,
    "food/fruit/mandarine.png": SNACK,
    "food/fruit/mango.png": SNACK,
    "food/fruit/orange.png": SNACK,
    "food/fruit/orange_seville.png": SNACK,
    "food/fruit/pear.png": SNACK,
    "food/fruit/pineapple.png": SNACK,
    "food/fruit/pomegranate.png": SNACK,
    "food/fruit/raspberry.png": SNACK,
    "food/fruit/sliced_lime.png": SNACK,
    "food/fruit/sliced_orange.png": SNACK,
    "food/fruit/strawberry.png": SNACK,
    "food/nuts/almond.png": SNACK,
    "food/nuts/pecan.png": SNACK,
    "food/nuts/walnut.png": SNACK,
    "food/nuts/walnut_shelled.png": SNACK,
    "food/spices/ginger.png": SNACK,
    "food/vegetables/broccoli.png": SNACK,
    "food/vegetables/carrot.png": SNACK,
    "food/vegetables/chilepepper.png": SNACK,
    "food/vegetables/corn.png": SNACK,
    "food/vegetables/eggplant.png": SNACK,
    "food/vegetables/garlic.png": SNACK,
    "food/vegetables/garlics.png": SNACK,
    "food/vegetables/lettuce.png": SNACK,
    "food/vegetables/mushroom.png": SNACK,
    "food/vegetables/onion.png": SNACK,
    "food/vegetables/pattypan_squash.png": SNACK,
    "food/vegetables/pepper.png": SNACK,
    "food/vegetables/potato.png": SNACK,
    "food/vegetables/pumpkin_small.png": SNACK,
    "food/vegetables/redlettuce.png": SNACK,
    "food/vegetables/tomato.png": SNACK,
    "food/vegetables/yam.png": SNACK,
    "food/vegetables/yellowpepper.png": SNACK,
    "hobbies/binoculars.png": OTHER,
    "hobbies/camera_35mm.png": DIGITAL,  # a camera
    "hobbies/music/brass/trumpet.png": OTHER,
    "hobbies/music/percussion/cymbal_crash.png": OTHER,
    "hobbies/music/percussion/drum_tomtom_floor.png": OTHER,
    "hobbies/music/percussion/drumkit.png": OTHER,
    "hobbies/music/string/cello.png": OTHER,
    "hobbies/music/string/guitar2.png": OTHER,
    "hobbies/music/string/guitar_classical.png": OTHER,
    "hobbies/music/string/guitar_electric.png": OTHER,
    "hobbies/music/string/guitar_electric_bass.png": OTHER,
    "hobbies/music/string/violin.png": OTHER,
    "hobbies/music/wind/bassoon.png": OTHER,
    "household/Lightbulb.png": OTHER,
    "household/arttools/highlighter.png": OTHER,
    "household/arttools/pen_dryerase.png": OTHER,
    "household/arttools/scissors_small_closed.png": OTHER,
    "household/arttools/scissors_small_open.png": OTHER,
    "household/cylinder.png": OTHER,  # a gas cylinder
    "household/dishes/glass.png": OTHER,  # an empty tumbler
    "household/dishes/mug.png": OTHER,
    "household/dishes/pitcher_small.png": OTHER,  # a porcelain jug
    "household/dishes/teapot.png": OTHER,
    "household/dishes/utensils/nutcracker.png": OTHER,
    "household/dishes/utensils/pepper_grinder.png": OTHER,
    "household/garbagecan.png": OTHER,
    "household/home_compost_bin.png": OTHER,
    "household/kettle.png": OTHER,
    "household/key.png": OTHER,
    "household/rubberduck.png": TOY,
    "household/toilet.png": OTHER,
    "household/tools/cementmixer.png": OTHER,
    "household/tools/hammer.png": OTHER,
    "household/tools/mallet_metal.png": OTHER,
    "household/tools/measuring_tape.png": OTHER,
    "household/tools/paintbrush_large.png": OTHER,
    "household/tools/plyers.png": OTHER,
    "household/tools/saw.png": OTHER,
    "household/tools/spade.png": OTHER,
    "household/tools/toolbox.png": OTHER,
    "household/tools/wrench.png": OTHER,
    "household/tools/wrench_adjustable.png": OTHER,
    "household/tools/wrench_plumbers.png": OTHER,
    "household/wheelie_bin.png": OTHER,
    "medical/bandage_adhesive.png": OTHER,
    "medical/mercurythermometer.png": OTHER,
    "medical/stethoscope.png": OTHER,
    "medical/syringe.png": OTHER,
    "military/ammunition/old_naval_shell.png": OTHER,
    "military/fireman240a.png": OTHER,
    "military/paratrooper.png": OTHER,
    "military/vehicles/bradley.png": OTHER,
    "military/vehicles/f22_raptor.png": OTHER,
    "military/vehicles/infantry-stryker.png": OTHER,
    "military/vehicles/ww2_german_gun.png": OTHER,
    "people/toys/grannysmith.png": TOY,  # a rag doll
    "plants/eggplant.png": SNACK,
    "plants/flowers/anthoorium.png": OTHER,
    "plants/flowers/chemparathi.png": OTHER,
    "plants/flowers/flower10.png": OTHER,
    "plants/flowers/flower4.png": OTHER,
    "plants/flowers/flower7.png": OTHER,
    "plants/flowers/iris.png": OTHER,
    "plants/flowers/plastic/chuvanna_plastic_poo.png": OTHER,
    "plants/flowers/whitestar-petunia.png": OTHER,
    "plants/lettuce_bolted.png": OTHER,  # a lettuce gone to seed, a plant
    "plants/mushrooms/cep.png": OTHER,  # a wild mushroom
    "plants/trees/holly_leaves.png": OTHER,
    "plants/trees/pinecone.png": OTHER,
    "seasonal/candle.png": OTHER,
    "seasonal/christmas/Candy_cane_photo_1.png": SNACK,
    "seasonal/christmas/Candy_cane_photo_2.png": SNACK,
    "seasonal/christmas/Christmas_Tree_photo.png": OTHER,
    "seasonal/christmas/Christmas_pudding.png": SNACK,
    "seasonal/christmas/German_Christmas_toy.png": TOY,  # a wooden smoker figure
    "seasonal/christmas/Mince_Pie.png": SNACK,
    "seasonal/christmas/Roast_turkey.png": SNACK,
    "seasonal/easter/wrapped_chocolate_easter_egg.png": SNACK,
    "seasonal/easter/wrapped_chocolate_easter_egg_2.png": SNACK,
    "seasonal/halloween/grave-a.png": OTHER,
    "seasonal/halloween/grave-b.png": OTHER,
    "seasonal/halloween/grave-d.png": OTHER,
    "seasonal/halloween/grave-i.png": OTHER,
    "seasonal/halloween/jackolantern_mean.png": OTHER,
    "sports/australian_rules_football.png": OTHER,
    "sports/basketball.png": OTHER,
    "sports/cricketball.png": OTHER,
    "sports/football.png": OTHER,
    "sports/soccer.png": OTHER,
    "sports/tennis_ball.png": OTHER,
    "sports/tennis_racket.png": OTHER,
    "sports/trophy_cup.png": OTHER,
    "vehicles/7spoke256.png": OTHER,  # a car wheel
    "vehicles/auto/beetle.png": OTHER,
    "vehicles/auto/sedan.png": OTHER,
    "vehicles/auto/sportscar2.png": OTHER,
    "vehicles/auto/truck.png": OTHER,
    "vehicles/construction/dumper.png": OTHER,
    "vehicles/cycle/pink_tricycle.png": TOY,  # a child's tricycle
    "vehicles/emergency/firetruck.png": OTHER,
    "vehicles/flight/balloon360.png": OTHER,  # a hot-air balloon
    "vehicles/flight/planes/747.png": OTHER,
    "vehicles/garbagetruck.png": OTHER,
    "vehicles/masstransit/green_korean_bus.png": OTHER,
    "vehicles/race/indycar.png": OTHER,
    "vehicles/ship/chineseJunk.png": OTHER,
    "vehicles/ship/walnutBoat.png": OTHER,
    "vehicles/wheel_tractor.png": OTHER,
}

Box = tuple[int, int, int, int]  # x1, x2, y1, y2 in the photo's own pixels, as the wire writes

# Objects inside photos, boxed by hand: (photo, box, category); the photo is a photos() name
# or a tuxpaint stamp path as above.
CROPS: tuple[tuple[str, Box, int], ...] = (
    ("Wine_by_Jakkub_Mede.jpg", (1130, 1400, 420, 1320), BOTTLE),  # the wine bottle
    ("Wine_by_Jakkub_Mede.jpg", (920, 1180, 740, 1330), BOTTLE),  # a glass of red wine
    ("Wine_by_Jakkub_Mede.jpg", (0, 490, 110, 1870), DIGITAL),  # a loudspeaker
    ("Wine_by_Jakkub_Mede.jpg", (700, 2430, 1080, 2350), FURNITURE),  # the pallet table
    ("Wine_by_Jakkub_Mede.jpg", (1830, 2290, 740, 1290), OTHER),  # a coffee grinder
    ("camera.png", (0, 300, 100, 512), TOPS),  # the cameraman's coat
    ("camera.png", (230, 410, 125, 512), DIGITAL),  # the camera on its tripod
    ("messi5.jpg", (150, 315, 80, 255), TOPS),  # a football shirt
    ("messi5.jpg", (215, 350, 200, 290), BOTTOMS),  # football shorts
    ("basketball1.png", (35, 155, 125, 295), TOPS),  # a T-shirt
    ("basketball1.png", (40, 150, 280, 470), BOTTOMS),  # jeans
    ("basketball1.png", (490, 640, 120, 480), TOPS),  # a Hawaiian shirt
    ("military/final-roll-call.png", (0, 256, 560, 864), SHOES),  # a pair of boots
    ("stuff.jpg", (305, 365, 305, 465), OTHER),  # a lighter
)

# Cut-outs pasted for the subject boxes: objects of several shapes and sizes.
PASTED = (
    "food/fruit/pineapple.png",
    "food/fruit/banana.png",
    "food/vegetables/broccoli.png",
    "food/vegetables/pepper.png",
    "food/nuts/walnut.png",
    "household/dishes/teapot.png",
    "household/dishes/mug.png",
    "household/kettle.png",
    "household/rubberduck.png",
    "household/toilet.png",
    "household/tools/hammer.png",
    "household/tools/toolbox.png",
    "household/tools/measuring_tape.png",
    "household/wheelie_bin.png",
    "hobbies/camera_35mm.png",
    "hobbies/binoculars.png",
    "hobbies/music/string/violin.png",
    "hobbies/music/percussion/drum_tomtom_floor.png",
    "hobbies/music/brass/trumpet.png",
    "sports/basketball.png",
    "sports/tennis_racket.png",
    "sports/trophy_cup.png",
    "animals/mammals/bears/toys/edward_bear.png",
    "people/toys/grannysmith.png",
    "seasonal/christmas/German_Christmas_toy.png",
    "seasonal/christmas/Christmas_pudding.png",
    "vehicles/auto/beetle.png",
    "vehicles/cycle/pink_tricycle.png",
    "animals/mammals/bovines/cow.png",
    "animals/birds/peacock.png",
)
# Backgrounds: real photos of scenes, textures and rooms (photos() names).
BACKGROUNDS = (
    "aitzgorri_by_Aitzol_Berasategi.jpg",
    "Wine_by_Jakkub_Mede.jpg",
    "GreenMeadow.jpg",
    "Wood.jpg",
    "home.jpg",
    "leuvenA.jpg",
    "box_in_scene.png",
    "building.jpg",
    "gravel.png",
    "brick.png",
    "BytheWater",
    "Path",
)
# The pasted object's longest side as a share of the background's shortest side.
SCALES = (0.3, 0.5, 0.7)
MAX_SIDE = 1024  # the picture sent: a phone photo after the client's usual downscale

ROOT_STAMPS = "usr/share/tuxpaint/stamps"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f}"


def photo_paths() -> dict[str, Path]:
    out = {}
    for p in corpus.photos():
        out[p.parents[2].name if p.parent.name == "images" else p.name] = p
    return out


def stamp_path(rel: str) -> Path | None:
    for root in corpus._roots("tuxpaint-stamps-default"):
        p = root / ROOT_STAMPS / rel
        if p.is_file():
            return p
    return None


def rgb_of(name: str, photos: dict[str, Path]) -> np.ndarray | None:
    path = photos.get(name) or stamp_path(name)
    if path is None:
        return None
    # Full resolution for the hand-drawn boxes; the wire itself allows up to 4096 px.
    return np.asarray(corpus.load_rgb(path, max_side=4096))


def cutout(rel: str) -> Image.Image | None:
    """A stamp as RGBA, cropped to its alpha's bounding box (tight around the object)."""
    path = stamp_path(rel)
    if path is None:
        return None
    with Image.open(path) as im:
        rgba = im.convert("RGBA")
    box = rgba.getchannel("A").point(lambda a: 255 if a > 16 else 0).getbbox()
    return rgba.crop(box) if box else None


def on_white(rgba: Image.Image, margin: float = 0.08) -> np.ndarray:
    pad = round(margin * max(rgba.size))
    canvas = Image.new("RGBA", (rgba.width + 2 * pad, rgba.height + 2 * pad), (255, 255, 255, 255))
    canvas.alpha_composite(rgba, (pad, pad))
    return np.asarray(canvas.convert("RGB"))


def decoded(rgb: np.ndarray) -> Decoded:
    return Decoded(format="JPEG", width=rgb.shape[1], height=rgb.shape[0], rgb=rgb)


# --------------------------------------------------------------------------- categories


def pooled(rgb: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(the (1280,) mean of the feature map, the (1280, fh, fw) map) at size x size."""
    fmap = emb.get_embedder().feature_maps(emb.resize_square(rgb, size)[None])[0]
    return fmap.mean(axis=(1, 2)), fmap


def padded(rgb: np.ndarray) -> np.ndarray:
    """The picture centred on a square of its own mean colour: no squashing."""
    height, width = rgb.shape[:2]
    side = max(height, width)
    out = np.empty((side, side, 3), np.uint8)
    out[:] = rgb.reshape(-1, 3).mean(axis=0).astype(np.uint8)
    y, x = (side - height) // 2, (side - width) // 2
    out[y : y + height, x : x + width] = rgb
    return out


def inputs(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """The pooled vector of each input the engine could classify."""
    height, width = rgb.shape[:2]
    whole448, fmap = pooled(rgb, pictures.SUBJECT_INPUT)
    energy = np.sqrt(np.square(fmap).sum(axis=0))
    found = pictures.boxes_of(energy, width, height)
    out = {
        "whole 224": pooled(rgb, emb.INPUT_SIZE)[0],
        "whole 224, padded square": pooled(padded(rgb), emb.INPUT_SIZE)[0],
        "whole 448 (reused)": whole448,
    }
    if found is None:  # nothing stands out: the subject is the whole picture
        out["main box of 448 (reused)"] = whole448
        out["main box crop at 224"] = out["whole 224"]
        return out
    x1, x2, y1, y2 = found.main
    fh, fw = energy.shape
    cells = fmap[
        :, y1 * fh // height : -(-y2 * fh // height), x1 * fw // width : -(-x2 * fw // width)
    ]
    out["main box of 448 (reused)"] = cells.mean(axis=(1, 2))
    out["main box crop at 224"] = pooled(np.ascontiguousarray(rgb[y1:y2, x1:x2]), emb.INPUT_SIZE)[0]
    return out


def labelled() -> list[tuple[str, np.ndarray, int]]:
    photos = photo_paths()
    out: list[tuple[str, np.ndarray, int]] = []
    missing = 0
    for name, category in PHOTOS.items():
        if name not in photos:
            missing += 1
            continue
        out.append((name, np.asarray(corpus.load_rgb(photos[name], max_side=1280)), category))
    for rel, category in STAMPS.items():
        rgba = cutout(rel)
        if rgba is None:
            missing += 1
            continue
        out.append((rel, on_white(rgba), category))
    for name, (x1, x2, y1, y2), category in CROPS:
        if name in photos:
            rgb = rgb_of(name, photos)
        else:
            rgba = cutout(name)
            rgb = None if rgba is None else on_white(rgba, margin=0)
        if rgb is None:
            missing += 1
            continue
        out.append(
            (f"{name} {x1},{x2},{y1},{y2}", np.ascontiguousarray(rgb[y1:y2, x1:x2]), category)
        )
    if missing:
        print(f"({missing} labelled photos are not on this machine: bench/corpus.py ensure)")
    return out


def bench_categories() -> None:
    head = emb.get_head()
    items = labelled()
    counts = Counter(category for _, _, category in items)
    print(f"\n## Categories: {len(items)} labelled photos")
    print("by label: " + ", ".join(f"{CATEGORIES[c]} {n}" for c, n in sorted(counts.items())))
    probabilities: dict[str, list[np.ndarray]] = defaultdict(list)
    for _, rgb, _ in items:
        for variant, vector in inputs(rgb).items():
            probabilities[variant].append(head.probabilities(vector[None])[0])
    truth = [category for _, _, category in items]
    thresholds = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
    print("\naccuracy (all photos; products = photos labelled other than Other, and how many")
    print("of the non-Other predictions were right), per input and MIN_SHARE:")
    print(f"| input | {' | '.join(f'{t:.1f}' for t in thresholds)} |")
    print(f"|---|{'---|' * len(thresholds)}")
    for variant, probs in probabilities.items():
        cells = []
        for t in thresholds:
            guess = [categories.decide(p, t) for p in probs]
            cells.append(_score(truth, guess))
        print(f"| {variant} | {' | '.join(cells)} |")
    chosen = probabilities["whole 224"]
    guess = [categories.decide(p) for p in chosen]
    setting = f"whole picture at 224 px, MIN_SHARE {categories.MIN_SHARE}"
    print(f"\nper label, as the engine predicts ({setting}):")
    print("| label | photos | right | predicted instead |")
    print("|---|---|---|---|")
    for label in sorted(counts):
        said = [g for t, g in zip(truth, guess, strict=True) if t == label]
        instead = Counter(CATEGORIES[g] for g in said if g != label)
        print(
            f"| {CATEGORIES[label]} | {len(said)} | {sum(g == label for g in said)} | "
            f"{', '.join(f'{name} {n}' for name, n in instead.most_common()) or '-'} |"
        )
    print("\nwrong:")
    for (name, _, category), g, p in zip(items, guess, chosen, strict=True):
        if g != category:
            top = int(np.argmax(p))
            print(
                f"  {name}: labelled {CATEGORIES[category]}, predicted {CATEGORIES[g]} "
                f"(top class {top}, {p[top]:.2f})"
            )
    _timings(head, items[0][1])


def _score(truth: list[int], guess: list[int]) -> str:
    right = sum(t == g for t, g in zip(truth, guess, strict=True))
    products = [(t, g) for t, g in zip(truth, guess, strict=True) if t != OTHER]
    said = [(t, g) for t, g in zip(truth, guess, strict=True) if g != OTHER]
    recall = sum(t == g for t, g in products)
    precision = sum(t == g for t, g in said)
    return (
        f"{right / len(truth):.2f} (products {recall}/{len(products)}, "
        f"said {precision}/{len(said)})"
    )


def _timings(head: emb.Head, rgb: np.ndarray) -> None:
    def ms(f: Callable[[], object], n: int = 20) -> float:
        f()
        start = time.perf_counter()
        for _ in range(n):
            f()
        return (time.perf_counter() - start) / n * 1000

    vector = pooled(rgb, emb.INPUT_SIZE)[0]
    print("\ncost per picture:")

    def rule() -> int:
        return categories.decide(head.probabilities(vector[None])[0])

    print(f"  head + rule on a pooled vector: {ms(rule, 200):.2f} ms")
    print(
        f"  224 px network pass (resize included): {ms(lambda: pooled(rgb, emb.INPUT_SIZE)):.1f} ms"
    )
    subject_pass = ms(lambda: pooled(rgb, pictures.SUBJECT_INPUT))
    print(f"  448 px network pass (the subject pass): {subject_pass:.1f} ms")


# --------------------------------------------------------------------------- subject boxes


def iou(a: Box, b: Box) -> float:
    w = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[2], b[2]))
    inter = w * h
    union = (a[1] - a[0]) * (a[3] - a[2]) + (b[1] - b[0]) * (b[3] - b[2]) - inter
    return inter / union if union else 0.0


def stored_vector(rgb: np.ndarray) -> np.ndarray:
    """The stored vector of a picture added with the defaults (Crop=true), as AddImage does."""
    image = decoded(rgb)
    box = pictures.subjects(image.rgb).main
    return np.asarray(
        extract("product", pictures.crop(image, box), for_query=False).vectors, np.float32
    )[0]


def query_top(rgb: np.ndarray, box: Box, gallery: np.ndarray) -> int:
    feats = extract("product", pictures.crop(decoded(rgb), box), for_query=True)
    q = np.asarray(query_vectors("product", feats), np.float32)
    return int(np.argmax((gallery @ q.T).max(axis=1)))


def bench_subjects(pastes: int) -> None:
    photos = photo_paths()
    objects = [(rel, c) for rel in PASTED if (c := cutout(rel)) is not None]
    # Every other photographic stamp is stored too, as distractors.
    others = [(rel, c) for rel in STAMPS if rel not in PASTED and (c := cutout(rel)) is not None]
    backgrounds = [
        (name, corpus.load_rgb(photos[name], max_side=MAX_SIDE))
        for name in BACKGROUNDS
        if name in photos
    ]
    if not objects or not backgrounds:
        print("\n## Subject boxes: no cut-outs or backgrounds here (bench/corpus.py ensure)")
        return
    started = time.perf_counter()
    gallery = np.stack([stored_vector(on_white(c)) for _, c in objects + others])
    print(
        f"\n## Subject boxes: {len(objects)} cut-outs pasted on {len(backgrounds)} backgrounds, "
        f"{len(SCALES)} scales; {len(gallery)} pictures stored "
        f"({time.perf_counter() - started:.0f} s)"
    )
    rng = random.Random(20261201)
    rows: dict[float, list[tuple[float, bool, bool]]] = defaultdict(list)
    spent = 0.0
    for i, (_, obj) in enumerate(objects):
        for scale in SCALES:
            for _ in range(pastes):
                _, bg = backgrounds[rng.randrange(len(backgrounds))]
                side = scale * min(bg.size)
                f = side / max(obj.size)
                pasted = obj.resize(
                    (max(1, round(obj.width * f)), max(1, round(obj.height * f))),
                    Image.Resampling.LANCZOS,
                )
                x = rng.randrange(0, bg.width - pasted.width + 1)
                y = rng.randrange(0, bg.height - pasted.height + 1)
                canvas = bg.convert("RGBA")
                canvas.alpha_composite(pasted, (x, y))
                rgb = np.asarray(canvas.convert("RGB"))
                alpha_box = pasted.getchannel("A").point(lambda a: 255 if a > 16 else 0).getbbox()
                assert alpha_box is not None
                truth = (x + alpha_box[0], x + alpha_box[2], y + alpha_box[1], y + alpha_box[3])
                t0 = time.perf_counter()
                main = pictures.subjects(rgb).main
                hit = query_top(rgb, main, gallery) == i
                spent += time.perf_counter() - t0
                whole = query_top(rgb, (0, rgb.shape[1], 0, rgb.shape[0]), gallery) == i
                rows[scale].append((iou(main, truth), hit, whole))
    every = [r for scale in SCALES for r in rows[scale]]
    print(
        "| object side / picture side | pastes | mean IoU | IoU >= 0.5 "
        "| cropped search: own photo first | whole picture (Crop=false): first |"
    )
    print("|---|---|---|---|---|---|")
    for label, rs in [(f"{scale:.1f}", rows[scale]) for scale in SCALES] + [("all", every)]:
        print(
            f"| {label} | {len(rs)} | {np.mean([r[0] for r in rs]):.2f} | "
            f"{np.mean([r[0] >= 0.5 for r in rs]):.2f} | {np.mean([r[1] for r in rs]):.2f} | "
            f"{np.mean([r[2] for r in rs]):.2f} |"
        )
    print(f"detection + cropped query: {spent / len(every) * 1000:.0f} ms per picture")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("categories", "subjects"))
    parser.add_argument("--pastes", type=int, default=2, help="pastes per cut-out and scale")
    args = parser.parse_args()
    import django

    django.setup()
    print(f"# {machine()}; {load()}")
    print(
        f"numpy {np.__version__}, onnxruntime {emb.ort.__version__}; "
        f"model {emb.MODEL_NAME}, head {emb.HEAD_NAME}"
    )
    if args.only != "subjects":
        bench_categories()
    if args.only != "categories":
        bench_subjects(args.pastes)
    print(f"\n{load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
