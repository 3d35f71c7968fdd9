"""Word sources for synthetic prompts (our own lists), and the generator that sizes a prompt in tokens.

With chatbench's own token rule (``bench.tokens.count_tokens``) a generated prompt has exactly the
requested number of tokens: English words are single alphanumeric runs joined by spaces, Chinese
words are CJK characters joined without spaces, so the tokens of the pieces simply add up. With a
real tokenizer (``target.tokenizer``) the prompt is cut to the longest prefix within the target.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence

from bench.tokens import count_tokens

__all__ = ["CHINESE_WORDS", "ENGLISH_WORDS", "generate_pieces", "generate_text", "take_tokens"]

_ENGLISH_TEXT = """
    the a of and to in is for on with as by at from that this it be are was can will
    system model server request answer question data time user network memory cache token
    queue batch latency throughput river mountain garden window kitchen morning evening
    winter summer harbor village market bridge library engine signal pattern history
    science music story letter picture paper number method result value design process
    simple quiet bright careful gentle rapid steady narrow broad early late modern ancient
    explain describe compare measure build follow write read share carry open close move
    travel improve balance collect return listen observe repair deliver prepare remember
    because although while before after during between across through under over around
    many several every each other another same different important useful common rare
    teacher student doctor farmer driver painter writer builder sailor pilot engineer
    apple bread coffee orange rice salt sugar tea water honey lemon pepper onion carrot
    forest ocean desert island valley meadow canyon glacier volcano prairie lagoon delta
    copper silver iron glass stone wood cotton wool paper clay sand marble granite
    north south east west center edge corner surface layer border path road street
    first second third final next last main small large long short high low deep
    clock lamp chair table shelf drawer mirror carpet curtain pillow blanket basket
"""

_CHINESE_TEXT = """
    我们 今天 明天 城市 河流 山峰 花园 窗户 厨房 早晨 晚上 冬天 夏天 港口 村庄 市场
    桥梁 图书馆 引擎 信号 模式 历史 科学 音乐 故事 信件 图片 纸张 数字 方法 结果
    价值 设计 过程 简单 安静 明亮 仔细 温和 快速 稳定 狭窄 宽阔 现代 古老 解释
    描述 比较 测量 建设 跟随 书写 阅读 分享 携带 打开 关闭 移动 旅行 改进 平衡
    收集 返回 倾听 观察 修理 准备 记住 因为 虽然 之前 之后 期间 之间 穿过 许多
    几个 每个 其他 相同 不同 重要 有用 常见 少见 老师 学生 医生 农民 司机 画家
    作家 工人 水手 飞行员 工程师 苹果 面包 咖啡 橙子 米饭 茶叶 清水 蜂蜜 柠檬
    森林 海洋 沙漠 岛屿 山谷 草地 峡谷 冰川 火山 草原 湖泊 铜 银 铁 玻璃 石头
    木头 棉花 羊毛 黏土 沙子 大理石 北方 南方 东边 西边 中心 边缘 角落 表面 道路
    街道 第一 第二 最后 下一个 主要 小 大 长 短 高 低 深 时钟 台灯 椅子 桌子 书架
    镜子 地毯 窗帘 枕头 毯子 篮子 系统 模型 服务器 请求 回答 问题 数据 时间 用户
    网络 内存 缓存 队列 批次 延迟 吞吐量 的 了 和 在 是 也 都 很 就 还
"""

ENGLISH_WORDS: tuple[str, ...] = tuple(_ENGLISH_TEXT.split())
CHINESE_WORDS: tuple[str, ...] = tuple(_CHINESE_TEXT.split())

# One-token pieces used to land exactly on the target length.
_EN_FILLERS = ("a", "the", "of", "and", "to", "in")
_ZH_FILLERS = ("的", "了", "和", "在", "是", "也")


@functools.lru_cache(maxsize=16)
def _vocabulary(words: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The words that carry tokens, and each one's token count (computed once per word list)."""
    kept = tuple(w for w in words if count_tokens(w) > 0)
    return kept, tuple(count_tokens(w) for w in kept)


def _pieces(language: str, words: Sequence[str], rng: random.Random, target: int) -> list[str]:
    """Pieces whose token counts add up to exactly ``target`` by chatbench's rule."""
    vocab, costs = _vocabulary(tuple(words))
    fillers = _ZH_FILLERS if language == "zh" else _EN_FILLERS
    end_mark = "。" if language == "zh" else "."
    capitalise = language != "zh"
    pieces: list[str] = []
    total = 0
    since_mark = 0
    sentence_len = rng.randint(6, 16)
    indices = range(len(vocab))
    while total < target:
        # Words are drawn in batches: one rng call per batch keeps long prompts cheap to build.
        for i in rng.choices(indices, k=min(512, target - total)):
            remaining = target - total
            if remaining <= 0:
                break
            word, cost = vocab[i], costs[i]
            since_mark += 1
            if since_mark > sentence_len and cost + 1 <= remaining:
                # A sentence end is its own token: "word." is 2 tokens, "词。" is 2 tokens.
                word, cost = word + end_mark, cost + 1
                since_mark, sentence_len = 0, rng.randint(6, 16)
            elif cost > remaining:
                word, cost = fillers[i % len(fillers)], 1
            elif since_mark == 1 and capitalise and pieces:
                word = word[:1].upper() + word[1:]  # a new sentence (the first is capitalised below)
            pieces.append(word)
            total += cost
    return pieces


def generate_pieces(language: str, target_tokens: int, rng: random.Random) -> list[str]:
    """The pieces (words) of a built-in-vocabulary text of exactly ``target_tokens`` tokens by
    chatbench's rule; join them with ``" "`` (English) or ``""`` (Chinese)."""
    words = CHINESE_WORDS if language == "zh" else ENGLISH_WORDS
    return _pieces(language, words, rng, target_tokens) if target_tokens > 0 else []


def take_tokens(pieces: Sequence[str], target_tokens: int) -> list[str]:
    """The leading pieces worth exactly ``target_tokens`` tokens (a sentence mark is dropped from the
    last piece when only one token is left), so a shorter cut of a text is a prefix of it."""
    out: list[str] = []
    left = target_tokens
    for piece in pieces:
        if left <= 0:
            break
        cost = count_tokens(piece)
        if cost > left:
            piece = piece.rstrip("。.")
            cost = count_tokens(piece)
            if cost > left or not piece:
                break
        out.append(piece)
        left -= cost
    return out


def generate_text(
    language: str,
    target_tokens: int,
    rng: random.Random,
    *,
    words: Sequence[str] | None = None,
    counter: Callable[[str], int] | None = None,
) -> str:
    """A prompt of ``target_tokens`` tokens (exact by chatbench's rule; at most that with ``counter``)."""
    words = words or (CHINESE_WORDS if language == "zh" else ENGLISH_WORDS)
    sep = "" if language == "zh" else " "
    if target_tokens <= 0:
        return ""
    if counter is None or counter is count_tokens:
        text = sep.join(_pieces(language, words, rng, target_tokens))
        if language != "zh" and text:
            text = text[0].upper() + text[1:]
        return text
    # A real tokenizer: over-generate by the rule, then keep the longest prefix within the target.
    pieces = _pieces(language, words, rng, int(target_tokens * 1.5) + 16)
    lo, hi = 0, len(pieces)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if counter(sep.join(pieces[:mid])) <= target_tokens:
            lo = mid
        else:
            hi = mid - 1
    text = sep.join(pieces[:lo])
    # Top up with one-token words while the tokenizer still counts within the target.
    fillers = _ZH_FILLERS if language == "zh" else _EN_FILLERS
    for filler in fillers * 3:
        candidate = f"{text}{sep}{filler}" if text else filler
        if counter(candidate) > target_tokens:
            break
        text = candidate
    return text
