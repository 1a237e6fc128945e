"""The predicted category of a product picture (aliyun-wire §4.3).

The embedding network (EfficientNet-Lite0, engine/features/embedder.py) was trained on the
1,000 ImageNet classes; its classifier head turns a pooled feature map into a probability per
class. The tables below say which ImageNet classes make up each of Alibaba's categories
(wire.aliyun.CATEGORIES); every class not listed belongs to "Other". A picture's share of a
category is the summed probability of its classes, and the best category wins if its share is
at least ``MIN_SHARE``, else the picture is "Other" (the network is unsure, or sees something
no category covers: a landscape, an animal, a tool).

Class indices follow the standard ImageNet-1k order (sorted WordNet ids), the order the
packaged weights were trained in; the comment beside each index is the class's first name.
Where Alibaba's categories are narrower than ImageNet's wording, the table follows the
hosted service's Chinese names: Snack (零食) takes ImageNet's dishes, fruit, vegetables and
food shops, Bottle (瓶饮) bottled drinks and the wine and beer served from them, Underwear
(内衣) also sleepwear, swimwear and socks, Dress (裙装) also skirts, Digital device (数码)
phones, computers, cameras, audio and video. Household goods, tools, appliances, sports gear,
vehicles, animals and scenes are Other.
"""

from __future__ import annotations

import numpy as np

from engine.features import embedder as emb
from wire.aliyun import CATEGORIES, OTHER_CATEGORY

_TOPS = (
    474,  # cardigan
    501,  # cloak
    568,  # fur coat
    610,  # jersey
    617,  # lab coat
    652,  # military uniform
    735,  # poncho
    834,  # suit
    841,  # sweatshirt
    869,  # trench coat
)
_DRESS = (
    399,  # abaya
    400,  # academic gown
    578,  # gown
    601,  # hoopskirt
    614,  # kimono
    655,  # miniskirt
    689,  # overskirt
    775,  # sarong
)
_BOTTOMS = (
    608,  # jean
)
_BAG = (
    414,  # backpack
    636,  # mailbag
    748,  # purse
    893,  # wallet
)
_SHOES = (
    502,  # clog
    514,  # cowboy boot
    630,  # Loafer
    770,  # running shoe
    774,  # sandal
    788,  # shoe shop
)
_ACCESSORIES = (
    451,  # bolo tie
    452,  # bonnet
    457,  # bow tie
    464,  # buckle
    515,  # cowboy hat
    552,  # feather boa
    584,  # hair slide
    591,  # handkerchief
    658,  # mitten
    667,  # mortarboard
    679,  # necklace
    796,  # ski mask
    808,  # sombrero
    824,  # stole
    836,  # sunglass
    837,  # sunglasses
    903,  # wig
    906,  # Windsor tie
)
_SNACK = (
    415,  # bakery
    509,  # confectionery
    582,  # grocery store
    924,  # guacamole
    925,  # consomme
    926,  # hot pot
    927,  # trifle
    928,  # ice cream
    929,  # ice lolly
    930,  # French loaf
    931,  # bagel
    932,  # pretzel
    933,  # cheeseburger
    934,  # hotdog
    935,  # mashed potato
    936,  # head cabbage
    937,  # broccoli
    938,  # cauliflower
    939,  # zucchini
    940,  # spaghetti squash
    941,  # acorn squash
    942,  # butternut squash
    943,  # cucumber
    944,  # artichoke
    945,  # bell pepper
    946,  # cardoon
    947,  # mushroom
    948,  # Granny Smith
    949,  # strawberry
    950,  # orange
    951,  # lemon
    952,  # fig
    953,  # pineapple
    954,  # banana
    955,  # jackfruit
    956,  # custard apple
    957,  # pomegranate
    959,  # carbonara
    960,  # chocolate sauce
    961,  # dough
    962,  # meat loaf
    963,  # pizza
    964,  # potpie
    965,  # burrito
    987,  # corn
    998,  # ear
)
_MAKEUP = (
    551,  # face powder
    585,  # hair spray
    629,  # lipstick
    631,  # lotion
    711,  # perfume
    838,  # sunscreen
)
_BOTTLE = (
    440,  # beer bottle
    441,  # beer glass
    737,  # pop bottle
    898,  # water bottle
    901,  # whiskey jug
    907,  # wine bottle
    966,  # red wine
)
_FURNITURE = (
    423,  # barber chair
    431,  # bassinet
    453,  # bookcase
    492,  # chest
    493,  # chiffonier
    495,  # china cabinet
    516,  # cradle
    520,  # crib
    526,  # desk
    532,  # dining table
    548,  # entertainment center
    559,  # folding chair
    564,  # four-poster
    648,  # medicine chest
    703,  # park bench
    765,  # rocking chair
    831,  # studio couch
    857,  # throne
    894,  # wardrobe
)
_TOY = (
    611,  # jigsaw puzzle
    719,  # piggy bank
    723,  # pinwheel
    850,  # teddy
    865,  # toyshop
    870,  # tricycle
)
_UNDERWEAR = (
    445,  # bikini
    459,  # brassiere
    638,  # maillot
    639,  # maillot
    697,  # pajama
    806,  # sock
    842,  # swimming trunks
)
_DIGITAL = (
    482,  # cassette player
    485,  # CD player
    487,  # cellular telephone
    508,  # computer keyboard
    527,  # desktop computer
    528,  # dial telephone
    531,  # digital watch
    590,  # hand-held computer
    592,  # hard disc
    598,  # home theater
    605,  # iPod
    620,  # laptop
    622,  # lens cap
    632,  # loudspeaker
    650,  # microphone
    662,  # modem
    664,  # monitor
    673,  # mouse
    713,  # photocopier
    732,  # Polaroid camera
    742,  # printer
    745,  # projector
    754,  # radio
    759,  # reflex camera
    761,  # remote control
    782,  # screen
    810,  # space bar
    848,  # tape player
    851,  # television
    872,  # tripod
)

CLASSES_OF: dict[int, tuple[int, ...]] = {
    0: _TOPS,
    1: _DRESS,
    2: _BOTTOMS,
    3: _BAG,
    4: _SHOES,
    5: _ACCESSORIES,
    6: _SNACK,
    7: _MAKEUP,
    8: _BOTTLE,
    9: _FURNITURE,
    20: _TOY,
    21: _UNDERWEAR,
    22: _DIGITAL,
}

# A category must hold at least this share of the probability to be predicted; below it the
# network is unsure and the picture is "Other". On the labelled photos of bench/categories.py
# accuracy is flat between 0.2 and 0.5 (0.84-0.86) and best at 0.3 (aliyun-wire §4.3).
MIN_SHARE = 0.3

_IDS = (*CLASSES_OF, OTHER_CATEGORY)
# For each ImageNet class, the position of its category in _IDS (the last one is "Other").
_SLOT = np.full(emb.CLASSES, len(_IDS) - 1, dtype=np.intp)
for _position, _category in enumerate(CLASSES_OF):
    _SLOT[list(CLASSES_OF[_category])] = _position
assert set(_IDS) == set(CATEGORIES)


def shares(probabilities: np.ndarray) -> dict[int, float]:
    """Each category's summed probability for one picture's (1000,) class probabilities."""
    summed = _summed(probabilities)
    return {category: float(summed[i]) for i, category in enumerate(_IDS)}


def _summed(probabilities: np.ndarray) -> np.ndarray:
    weights = np.asarray(probabilities, np.float64)
    return np.bincount(_SLOT, weights=weights, minlength=len(_IDS))


def decide(probabilities: np.ndarray, min_share: float = MIN_SHARE) -> int:
    """The category of a picture from its (1000,) ImageNet class probabilities.

    The best category other than "Other" if it holds at least ``min_share``, else "Other":
    "Other" gathers ~830 classes, so its summed share says little on its own.
    """
    summed = _summed(probabilities)[:-1]
    best = int(np.argmax(summed))
    return _IDS[best] if summed[best] >= min_share else OTHER_CATEGORY


def predict(rgb: np.ndarray) -> int:
    """The category of an (H, W, 3) uint8 RGB picture.

    The picture is resized (not cropped) to the network's own 224 px, as for the global
    embedding: the 448 px map of the subject pass is out of the range the classifier was
    trained at, and its predictions were much worse (aliyun-wire §4.3).
    """
    x = emb.resize_square(rgb, emb.INPUT_SIZE)[None]
    pooled = emb.get_embedder().feature_maps(x).mean(axis=(2, 3))
    return decide(emb.get_head().probabilities(pooled)[0])
