"""A synthetic audience for the demo and the tests: users whose interests drift over time, and
the reviews they write.

The generating process has structure that a sequential model can learn and a popularity
ranking cannot: each user follows 2–3 interest categories that change over time, and inside a
category items come in series (after part k, part k + 1 is likely next).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from attnsight.data.readers import Interactions
from attnsight.data.texts import Texts

CATEGORIES = {
    "Sci-Fi": ["Nebula", "Starship", "Android", "Colony", "Orbit", "Quasar"],
    "Cooking": ["Skillet", "Sourdough", "Ramen", "Tagine", "Risotto", "Brunch"],
    "Travel": ["Fjord", "Atlas", "Harbour", "Caravan", "Summit", "Lagoon"],
    "Fitness": ["Sprint", "Kettlebell", "Yoga", "Marathon", "Pilates", "Rowing"],
    "Gaming": ["Dungeon", "Speedrun", "Arcade", "Quest", "Pixel", "Raid"],
    "Music": ["Vinyl", "Anthem", "Ballad", "Synth", "Chorus", "Encore"],
    "Finance": ["Ledger", "Dividend", "Budget", "Index", "Bond", "Equity"],
    "Gardening": ["Seedling", "Orchard", "Compost", "Bonsai", "Meadow", "Trellis"],
}
ADJECTIVES = ["Midnight", "Golden", "Quiet", "Wild", "Electric", "Hidden", "Little", "Grand", "Urban", "Lost"]
EPOCH_2025 = 1_735_689_600  # 2025-01-01T00:00:00Z


@dataclass
class SyntheticAudience:
    interactions: Interactions
    items: pl.DataFrame  # item, title, category
    interests: dict[str, list[str]]  # user -> categories followed at the end of their history


def make_audience(
    num_users: int = 1500,
    num_items: int = 320,
    mean_events: int = 40,
    series_length: int = 5,
    drift: float = 0.03,
    seed: int = 0,
) -> SyntheticAudience:
    """Generate users, an item catalogue with titles and categories, and timestamped events.

    Each step a user continues the series they are in (probability 0.6), else opens an item of
    one of their current interests, popular items more often (Zipf). With probability `drift`
    per step one interest is swapped for another category.
    """
    rng = np.random.default_rng(seed)
    names = list(CATEGORIES)
    cat_of = np.arange(num_items) % len(names)
    rank_in_cat = np.arange(num_items) // len(names)
    popularity = 1.0 / (1.0 + rank_in_cat // series_length) ** 0.8  # series share a popularity
    titles = [
        f"{ADJECTIVES[(i // len(names) // series_length) % len(ADJECTIVES)]} "
        f"{CATEGORIES[names[cat_of[i]]][(i // len(names) // series_length) % 6]} "
        f"{(i // len(names)) % series_length + 1}"
        for i in range(num_items)
    ]
    by_cat = [np.flatnonzero(cat_of == c) for c in range(len(names))]

    users, items, times = [], [], []
    interests: dict[str, list[str]] = {}
    for u in range(num_users):
        user = f"u{u + 1:05d}"
        follows = list(rng.choice(len(names), size=rng.integers(2, 4), replace=False))
        length = max(5, int(rng.poisson(mean_events)))
        t = EPOCH_2025 + int(rng.integers(0, 30 * 86_400))
        seen: set[int] = set()
        last = -1
        for _ in range(length):
            if rng.random() < drift:
                follows[rng.integers(len(follows))] = int(rng.choice([c for c in range(len(names)) if c not in follows]))
            nxt = last + len(names)  # the next part of the same series
            if last >= 0 and rank_in_cat[last] % series_length < series_length - 1 and nxt < num_items \
                    and nxt not in seen and rng.random() < 0.6:
                item = nxt
            else:
                pool = np.array([i for i in by_cat[follows[rng.integers(len(follows))]] if i not in seen])
                if len(pool) == 0:
                    break
                p = popularity[pool] / popularity[pool].sum()
                item = int(rng.choice(pool, p=p))
            seen.add(item)
            users.append(user)
            items.append(f"i{item + 1:04d}")
            t += int(rng.exponential(6 * 3600)) + 60
            times.append(t)
            last = item
        interests[user] = [names[c] for c in follows]
    catalogue = pl.DataFrame(
        {"item": [f"i{i + 1:04d}" for i in range(num_items)], "title": titles,
         "category": [names[c] for c in cat_of]}
    )
    return SyntheticAudience(Interactions.from_records(users, items, times), catalogue, interests)


_REVIEW_WORDS = {
    "en": {
        "aspects": ["room", "staff", "breakfast", "location", "bed", "price", "service", "view", "wifi", "pool"],
        "positive": ["clean", "friendly", "delicious", "quiet", "comfortable", "great", "excellent", "lovely"],
        "negative": ["dirty", "rude", "cold", "noisy", "broken", "awful", "terrible", "overpriced"],
        "fillers": ["we stayed two nights", "booked online", "arrived late", "travelling with family",
                    "on a business trip", "checked in at noon", "the hotel is near the station"],
        "template": "{filler}. the {aspect} was {adj}, and the {aspect2} was {adj2}.",
    },
    "zh": {
        "aspects": ["房间", "服务", "早餐", "位置", "床", "价格", "前台", "环境", "网络", "卫生间"],
        "positive": ["干净", "热情", "好吃", "安静", "舒服", "不错", "方便", "满意"],
        "negative": ["脏", "冷淡", "难吃", "吵", "破旧", "糟糕", "贵", "差"],
        "fillers": ["我们住了两晚", "网上预订的", "晚上才到", "带着家人出行", "出差住在这里", "中午办理入住"],
        "template": "{filler}，{aspect}很{adj}，{aspect2}也{adj2}。",
    },
}


def make_reviews(num: int = 600, language: str = "en", seed: int = 0, noise: float = 0.05) -> Texts:
    """Hotel reviews labelled positive/negative: the label is carried by sentiment words about
    aspects, among filler phrases that carry none; `noise` flips that share of labels."""
    words = _REVIEW_WORDS[language]
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(num):
        positive = bool(rng.random() < 0.5)
        pool = words["positive" if positive else "negative"]
        aspect, aspect2 = rng.choice(words["aspects"], size=2, replace=False)
        texts.append(words["template"].format(
            filler=rng.choice(words["fillers"]), aspect=aspect, aspect2=aspect2,
            adj=rng.choice(pool), adj2=rng.choice(pool),
        ))
        labels.append("positive" if positive != (rng.random() < noise) else "negative")
    return Texts.from_lists(texts, labels, source=f"<synthetic reviews, {language}>")


def make_transactions(
    customers: int = 300, terminals: int = 600, days: int = 60, seed: int = 0, start: int = EPOCH_2025
) -> pl.DataFrame:
    """Card transactions with the Fraud Detection Handbook's three fraud scenarios.

    Customers spend around their own mean amount at terminals near them (`channel`: pos, atm,
    online). Frauds: (1) any amount over 220; (2) every transaction at a compromised terminal
    for 28 days; (3) a third of a compromised customer's transactions for 14 days, five times
    the usual amount and mostly online. Scenarios 2 and 3 are only visible through history:
    the terminal's earlier frauds, the customer's usual spending.
    """
    rng = np.random.default_rng(seed)
    mean_amount = rng.uniform(5, 100, customers)
    per_day = rng.uniform(0, 4, customers)
    distance = np.linalg.norm(rng.uniform(0, 100, (customers, 1, 2)) - rng.uniform(0, 100, (1, terminals, 2)), axis=2)
    nearby = np.argsort(distance, axis=1)[:, :10]
    counts = rng.poisson(np.repeat(per_day, days)).astype(np.int64)
    customer = np.repeat(np.repeat(np.arange(customers), days), counts)
    day = np.repeat(np.tile(np.arange(days), customers), counts)
    n = len(customer)
    seconds = rng.normal(43_200, 20_000, n).astype(np.int64) % 86_400  # mostly daytime
    amount = np.maximum(np.abs(rng.normal(mean_amount[customer], mean_amount[customer] / 2)), 0.5)
    terminal = nearby[customer, rng.integers(0, nearby.shape[1], n)]
    channel = rng.choice(np.array(["pos", "atm", "online"]), n, p=[0.7, 0.1, 0.2])
    scenario = np.where(amount > 220, 1, 0)
    for d in range(days):
        for t in rng.choice(terminals, rng.poisson(0.0005 * terminals), replace=False):
            scenario[(terminal == t) & (day >= d) & (day < d + 28) & (scenario == 0)] = 2
        for c in rng.choice(customers, rng.poisson(0.001 * customers), replace=False):
            hit = (customer == c) & (day >= d) & (day < d + 14) & (scenario == 0) & (rng.random(n) < 1 / 3)
            amount[hit] *= 5
            channel[hit & (rng.random(n) < 0.8)] = "online"
            scenario[hit] = 3
    order = np.lexsort((seconds, day))
    return pl.DataFrame({
        "transaction_id": np.arange(n),
        "timestamp": (start + day * 86_400 + seconds)[order],
        "customer": [f"C{c:04d}" for c in customer[order]],
        "terminal": [f"T{t:04d}" for t in terminal[order]],
        "amount": np.round(amount[order], 2),
        "channel": channel[order],
        "fraud": (scenario[order] > 0).astype(np.int64),
        "scenario": scenario[order],
    })
