"""The mock's generated text: words from a fixed vocabulary, exactly N tokens by chatbench's rule.

Each piece is exactly one token by ``bench.tokens.count_tokens`` (an ASCII word with its leading
space, a punctuation mark, or one CJK character), so an answer of N pieces is N tokens and the
``usage`` the mock reports is exact. A Chinese prompt gets a Chinese answer.

The text is read from a fixed pseudo-random corpus at an offset the caller derives from the request;
the sampling values change which words are likely (a higher temperature or top_p reaches further into
the vocabulary), so a test can see they arrived.
"""

from __future__ import annotations

import random
import re

__all__ = ["draw_pieces", "is_chinese"]

_ENGLISH = (  # noqa: SIM905 (a word list reads better as prose)
    "the of and to a in is it that for on with as was at by this be from or are an which have not "
    "you but all they his their one can has more will we there been were when if so what about would "
    "model server token request latency stream batch queue answer prompt time first each load user "
    "system memory cache layer attention decode prefill throughput percentile window second sample "
    "value result report scenario engine kernel tensor vector matrix weight speed rate budget limit "
    "river mountain garden window morning evening summer winter silver golden quiet gentle bright "
    "simple careful useful rapid steady narrow broad ancient modern hidden open "
    "measure compare explain describe consider improve support observe return follow "
    "because however although therefore meanwhile instead perhaps usually often rarely"
).split()
_CHINESE = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面"
    "而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性"
    "好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第"
    "向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特"
)
_EN_PUNCT = (",", ",", ".", ".", ";", "!")
_ZH_PUNCT = ("，", "，", "。", "。", "、", "！")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def is_chinese(text: str) -> bool:
    """True when the text holds any CJK ideograph (the mock then answers in Chinese)."""
    return _CJK.search(text) is not None


def _pool(words: list[str], punct: tuple[str, ...], spaced: bool) -> list[str]:
    pieces = [(" " + w) if spaced else w for w in words]
    # Punctuation is about one piece in eight, spread through the pool so any prefix has some.
    out: list[str] = []
    for i, piece in enumerate(pieces):
        out.append(piece)
        if i % 7 == 6:
            out.append(punct[(i // 7) % len(punct)])
    return out


_EN_POOL = _pool(_ENGLISH, _EN_PUNCT, spaced=True)
_ZH_POOL = _pool(list(_CHINESE), _ZH_PUNCT, spaced=False)


_CORPUS_PIECES = 8192
_corpora: dict[tuple[bool, int], list[str]] = {}


def _corpus(chinese: bool, k: int) -> list[str]:
    """A fixed random sequence of pieces drawn from the first ``k`` of the pool (built once)."""
    corpus = _corpora.get((chinese, k))
    if corpus is None:
        pool = _ZH_POOL if chinese else _EN_POOL
        rng = random.Random(k)
        corpus = rng.choices(pool[:k], k=_CORPUS_PIECES)
        words = [p for p in pool[:k] if p[-1].isalnum()]
        for i in range(1, _CORPUS_PIECES):  # no ",." : a mark always follows a word
            if not corpus[i][-1].isalnum() and not corpus[i - 1][-1].isalnum():
                corpus[i] = rng.choice(words)
        _corpora[(chinese, k)] = corpus
    return corpus


# (chinese, temperature, top_p) -> (the corpus, the pool's first piece): the share arithmetic once per
# distinct sampling pair instead of once per request.
_by_sampling: dict[tuple[bool, float, float], tuple[list[str], str]] = {}


def _corpus_for(chinese: bool, temperature: float, top_p: float) -> tuple[list[str], str]:
    key = (chinese, temperature, top_p)
    found = _by_sampling.get(key)
    if found is None:
        pool = _ZH_POOL if chinese else _EN_POOL
        share = min(1.0, 0.2 + 0.4 * temperature) * max(top_p, 0.05)
        if len(_by_sampling) >= 4096:
            _by_sampling.clear()
        found = _by_sampling[key] = (_corpus(chinese, max(8, int(len(pool) * share))), pool[0])
    return found


def draw_pieces(offset: int, n: int, *, chinese: bool, temperature: float, top_p: float) -> list[str]:
    """``n`` one-token pieces; concatenated they are a text of exactly ``n`` tokens.

    The pieces are read from a fixed pseudo-random corpus starting at ``offset`` (the caller derives
    it from a hash of the request), which costs a slice instead of ``n`` random draws. The share of the
    vocabulary the corpus is drawn from grows with temperature (0..2) and top_p (0..1), like a sampler
    that reaches for less likely words.
    """
    corpus, first_word = _corpus_for(chinese, temperature, top_p)
    start = offset % _CORPUS_PIECES
    pieces = corpus[start : start + n]
    while len(pieces) < n:
        pieces += corpus[: n - len(pieces)]
    if pieces:
        first = pieces[0]
        # An answer starts with a word, not a punctuation mark, and without the word's leading space.
        if first[0] == " ":
            pieces[0] = first[1:]
        elif not first[0].isalnum():
            pieces[0] = first_word.lstrip(" ")
    return pieces
