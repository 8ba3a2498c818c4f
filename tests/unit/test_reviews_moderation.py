"""The spam and abuse check: what it must hold, and the honest (even angry) reviews it must let through."""

from __future__ import annotations

import pytest

from patron.reviews.moderation import check_text, load_terms


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        ("This is shit", "profanity"),
        ("F U C K this shop", "profanity"),
        ("f.u.c.k.i.n.g useless", "profanity"),
        ("What a fuuuuucking joke", "profanity"),
        ("The owner is an a$$hole", "profanity"),
        ("Sh1t quality", "profanity"),
        ("The seller is a moron", "abuse"),
        ("go kill yourself", "abuse"),
        ("Earn money from home, dm me", "spam"),
        ("Best CASINO bonuses", "spam"),
        ("Great! See www.cheap-bags.shop", "link"),
        ("More at https://example.org/deal", "link"),
        ("Mail me at seller@example.com", "contact_details"),
        ("Call +44 20 7946 0958 now", "contact_details"),
        ("THIS IS THE WORST DRESS I HAVE EVER BOUGHT", "all_caps"),
        ("aaaaaaaaaaaaaaaaaaaaa", "repeated_characters"),
        ("Best price!!!!!!!!!!!!", "repeated_characters"),
        ("buy buy buy buy buy buy buy buy", "repetition"),
        (" ".join(["cheap"] * 12 + ["dress", "sale"] * 4), "repetition"),
    ],
)
def test_it_holds(text: str, flag: str) -> None:
    assert flag in check_text(text)


@pytest.mark.parametrize(
    "text",
    [
        "Absolutely wonderful - silky and sexy and comfortable",
        "Crap quality. The zipper broke on day one, stupid design, returning it.",
        "This dress sucks on me: it runs small and the fabric is cheap.",
        "I'm 5'8\", 135 lbs, 34-28-36 and the medium fit well.",
        "Sizes 0 2 4 6 8 10 12 are all available in store.",
        "Sooo pretty!!! Love it.",
        "Shipped to Scunthorpe in two days; the class was assessed as excellent.",
        "Cocktail dress, but the glasses are not included, obviously.",
        "Great for a night out. My husband loved it. LOVE.",
        "Awww... so in love! Sooooo cute.",
        "Love love love. Love, love, love this top!",
        "I work from home, so comfy tops are a must; buy now while it is on sale.",
        "I was going to re-turn this.top but it is.comfortable.",
        "Wait for it...... and ____ underlined ---- dashes",
    ],
)
def test_it_lets_honest_reviews_through(text: str) -> None:
    assert check_text(text) == []


def test_title_and_comment_are_checked_together() -> None:
    # "dm me" runs from the title into the comment.
    assert check_text("Please dm", "me for prices, www.deals.xyz") == ["spam", "link"]
    assert check_text("", "") == []


def test_the_word_list_has_its_sections() -> None:
    terms = load_terms()
    assert {"profanity", "abuse", "spam"} <= set(terms.exact) | set(terms.prefixes)
    assert "kill yourself" in terms.exact["abuse"]
