"""NLG metrics for E2E / WebNLG / DART: BLEU, NIST, METEOR, ROUGE-L, CIDEr, TER, chrF -- offline, no Java.

The definitions follow the official E2E evaluation (github.com/tuetschek/e2e-metrics, `measure_scores.py`):
- BLEU and NIST are MT-Eval v13a: 13a tokenisation, case-insensitive, corpus level, multi-reference.
- METEOR, ROUGE-L and CIDEr are the MS-COCO caption scorers (pycocoevalcap) run on text that the Stanford
  PTBTokenizer has tokenised and lowercased, with COCO's punctuation tokens removed. `ptb_tokenize` below
  re-implements that tokeniser; on all 9,365 E2E dev+test references it gives exactly the tokens of
  stanford-corenlp-3.4.1 (`-preserveLines -lowerCase`).
- TER and chrF are sacrebleu's, default settings.

Agreement with the official scripts (jars of pycocoevalcap 1.2 = coco-caption, and e2e-metrics' pymteval),
measured on the e2e-metrics example files (baseline output, 10 dev instances) and on E2E dev "leave one
out" (547 MRs; the last reference as output, the others as references): BLEU, NIST, ROUGE-L and CIDEr
equal the official values to 1e-13. On 547 artificially corrupted outputs (dropped/swapped words, stray
"s" suffixes) 7 outputs tokenise differently ("20.s", "it'ss"), moving ROUGE-L by -0.03 and CIDEr by
-0.001. METEOR differs by design: see `meteor`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from sacrebleu.metrics import BLEU, CHRF, TER
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

NLG_METRIC_NAMES: tuple[str, ...] = ("bleu", "nist", "meteor", "rouge_l", "cider", "ter", "chrf")

# ----------------------------------------------------------------------------------------------------------
# Tokenisation
# ----------------------------------------------------------------------------------------------------------

# PTB3 currency normalisation of Stanford's tokenizer: pound -> "#", other currencies -> "$".
_CURRENCY = {"£": "#", "€": "$", "¥": "$", "$": "$"}
_BRACKETS = {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-", "{": "-lcb-", "}": "-rcb-"}
_PTB_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r'(?<=[\s(\[{])"'), " `` "),  # opening double quote
    (re.compile(r'"'), " '' "),  # closing double quote
    (re.compile(r"\.\.\.+"), " ... "),
    (re.compile(r"(?<=[^\s.])\.(?=[\s\"')\]}.]|$)"), " . "),  # period before a space/quote/bracket/period
    (re.compile(r"(?<=\s)\.(?=[^\s.])"), " . "),  # ".word"
    (re.compile(r"(?<=\s)-(?=[^\W\d])|(?<=\w)-(?=\s)"), " - "),  # dangling hyphens ("word- x", "x -word")
    (re.compile(r"(?<=[\s(\[{])'(?=[a-zA-Z])"), " ` "),  # opening single quote
    (re.compile(r"([,;:!?()\[\]{}])"), r" \1 "),
    (re.compile(r"(\d) , (\d)"), r"\1,\2"),  # 1,000 stays one token
    (re.compile(r"(?i)(\w)(n't)\b"), r"\1 \2"),
    (re.compile(r"(?i)(\w)('s|'re|'ve|'ll|'d|'m)\b"), r"\1 \2"),
    (re.compile(r"(?<=[^\s'])'(?=\s)|(?<=\s)'(?=\d)"), " ' "),  # closing single quote
]
# Tokens the COCO scorers drop after PTB tokenisation (case-sensitive, so the lowercased "-lrb-" stays).
_COCO_PUNCTUATION = frozenset(
    ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";"]
)


def ptb_tokenize(text: str) -> list[str]:
    """Stanford PTBTokenizer 3.4.1 with `-preserveLines -lowerCase`, as a few regular expressions.

    Splits punctuation, clitics (n't 's 're ...) and quotes (`` '' ` '), keeps hyphenated words and numbers
    whole, maps brackets to -lrb- etc. and currency to # / $, lowercases. Exact on all E2E references;
    on other text it may differ from Stanford's lexer in rare cases (abbreviations such as "Mr.").
    """
    s = " " + " ".join(text.split()) + " "
    for symbol, replacement in _CURRENCY.items():
        s = s.replace(symbol, f" {replacement} ")
    for pattern, replacement in _PTB_RULES:
        s = pattern.sub(replacement, s)
    for bracket, replacement in _BRACKETS.items():
        s = s.replace(bracket, replacement)
    return s.lower().split()


def coco_tokenize(text: str) -> list[str]:
    """What the COCO scorers see in e2e-metrics: PTB tokens without COCO's punctuation tokens."""
    return [t for t in ptb_tokenize(text) if t not in _COCO_PUNCTUATION]


_TOKENIZER_13A = Tokenizer13a()


def mteval_tokenize(text: str, lowercase: bool = True) -> list[str]:
    """MT-Eval v13a tokenisation (sacrebleu's 13a), lowercased unless `lowercase` is False."""
    tokens = _TOKENIZER_13A(text.strip()).split()
    return [t.lower() for t in tokens] if lowercase else tokens


# ----------------------------------------------------------------------------------------------------------
# BLEU, TER, chrF (sacrebleu) and NIST
# ----------------------------------------------------------------------------------------------------------


def _reference_streams(references: Sequence[Sequence[str]]) -> list[list[str | None]]:
    """Per-segment reference lists -> sacrebleu's reference streams, padded with None (ignored)."""
    width = max(len(refs) for refs in references)
    return [[refs[i] if i < len(refs) else None for refs in references] for i in range(width)]


def bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str]], lowercase: bool = True) -> float:
    """Corpus BLEU-4 in percent: sacrebleu with 13a tokenisation, no smoothing, closest reference length.

    With lowercase=True (default) this is MT-Eval v13a's default (case-insensitive) BLEU, which the E2E
    challenge reports; the e2e-metrics Python port gives the same value.
    """
    metric = BLEU(lowercase=lowercase, tokenize="13a", smooth_method="none", force=True)
    return float(metric.corpus_score(list(hypotheses), _reference_streams(references)).score)


def ter(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Corpus TER as a fraction (sacrebleu's default TER / 100): edits over the mean reference length."""
    return float(TER().corpus_score(list(hypotheses), _reference_streams(references)).score) / 100.0


def chrf(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Corpus chrF (sacrebleu defaults: character 6-grams, beta 2) in percent."""
    return float(CHRF().corpus_score(list(hypotheses), _reference_streams(references)).score)


_NIST_BETA = -math.log(0.5) / math.log(1.5) ** 2  # length penalty is 0.5 when the output is 2/3 as long


def nist(hypotheses: Sequence[str], references: Sequence[Sequence[str]], max_n: int = 5) -> float:
    """Corpus NIST-5 (Doddington 2002) as MT-Eval v13a / e2e-metrics' `pymteval.NISTScore` compute it.

    Information weight of an n-gram w1..wn: log2(count(w1..wn-1) / count(w1..wn)), counted over all
    reference sentences (count of the empty prefix = number of reference words). Score =
    BP * sum_n (sum of the weights of clipped matching n-grams / number of hypothesis n-grams), with
    BP = exp(-beta * log(min(1, L_sys / L_ref))^2), L_ref the sum of each segment's mean reference length.
    Tokens: 13a, lowercased. For segments with different numbers of references this is the pymteval
    definition (the e2e-metrics Perl path pads missing references with empty ones).
    """
    ref_counts: list[Counter[tuple[str, ...]]] = [Counter() for _ in range(max_n + 1)]
    hits: list[Counter[tuple[str, ...]]] = [Counter() for _ in range(max_n)]
    hyp_ngram_total = [0] * max_n
    ref_length = 0.0
    for hypothesis, refs in zip(hypotheses, references, strict=True):
        hyp = mteval_tokenize(hypothesis)
        ref_tokens = [mteval_tokenize(r) for r in refs]
        for n in range(1, max_n + 1):
            hyp_ngram_total[n - 1] += len(hyp) - n + 1  # as pymteval (may go negative for tiny outputs)
            clipped: Counter[tuple[str, ...]] = Counter()
            for ref in ref_tokens:
                ref_ngrams = _ngram_counts(ref, n)
                clipped |= ref_ngrams  # max count over references
                ref_counts[n].update(ref_ngrams)
            hits[n - 1].update(_ngram_counts(hyp, n) & clipped)
        ref_counts[0][()] += sum(len(r) for r in ref_tokens)
        ref_length += sum(len(r) for r in ref_tokens) / len(ref_tokens)

    def info(ngram: tuple[str, ...]) -> float:
        return math.log2(ref_counts[len(ngram) - 1][ngram[:-1]] / ref_counts[len(ngram)][ngram])

    score = 0.0
    for n in range(max_n):
        if hyp_ngram_total[n] > 0:
            score += sum(info(g) * c for g, c in hits[n].items()) / hyp_ngram_total[n]
    ratio = hyp_ngram_total[0] / ref_length if ref_length else 0.0
    penalty = 1.0 if ratio >= 1 else 0.0 if ratio <= 0 else math.exp(-_NIST_BETA * math.log(ratio) ** 2)
    return penalty * score


def _ngram_counts(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


# ----------------------------------------------------------------------------------------------------------
# ROUGE-L and CIDEr-D (MS-COCO caption scorers)
# ----------------------------------------------------------------------------------------------------------


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(hypotheses: Sequence[str], references: Sequence[Sequence[str]], beta: float = 1.2) -> float:
    """ROUGE-L in percent as pycocoevalcap's `Rouge` (E2E official), on COCO/PTB tokens.

    Per segment: P = max_r LCS/|hyp|, R = max_r LCS/|ref_r| (maxima taken separately over the references),
    F = (1 + beta^2) P R / (R + beta^2 P) with beta = 1.2; the corpus score is the mean over segments.
    This differs from the `rouge-score` package (per-reference F1, best reference, Porter stemming optional).
    """
    scores = []
    for hypothesis, refs in zip(hypotheses, references, strict=True):
        hyp = coco_tokenize(hypothesis) or [""]  # COCO splits "" into [""]
        precision = recall = 0.0
        for reference in refs:
            ref = coco_tokenize(reference) or [""]
            lcs = _lcs_length(ref, hyp)
            precision = max(precision, lcs / len(hyp))
            recall = max(recall, lcs / len(ref))
        f = 0.0
        if precision and recall:
            f = (1 + beta**2) * precision * recall / (recall + beta**2 * precision)
        scores.append(f)
    return 100.0 * float(np.mean(scores))


def cider(hypotheses: Sequence[str], references: Sequence[Sequence[str]], sigma: float = 6.0) -> float:
    """CIDEr-D (Vedantam et al. 2015) exactly as pycocoevalcap's `CiderScorer` (E2E official), on COCO tokens.

    TF-IDF vectors of 1..4-grams, document frequency = number of segments whose references contain the
    n-gram, idf = log(#segments) - log(max(1, df)). Per n: sum over references of the cosine similarity with
    the hypothesis counts clipped to the reference's (sum_g min(h_g, r_g) r_g / |h||r|) times the Gaussian
    length penalty exp(-(l_h - l_r)^2 / (2 sigma^2)); averaged over n and references, times 10; mean over
    segments. As in pycocoevalcap, the "length" in the penalty is the number of bigrams.
    """
    hyp_counts = [_cider_counts(coco_tokenize(h)) for h in hypotheses]
    ref_counts = [[_cider_counts(coco_tokenize(r)) for r in refs] for refs in references]
    if len(hyp_counts) != len(ref_counts):
        raise ValueError(f"{len(hyp_counts)} hypotheses but {len(ref_counts)} reference lists")
    document_frequency: Counter[tuple[str, ...]] = Counter()
    for refs in ref_counts:
        document_frequency.update({g for ref in refs for g in ref})
    log_num_docs = math.log(float(len(ref_counts)))

    def vectorise(counts: Counter[tuple[str, ...]]) -> tuple[list[dict], list[float], int]:
        vec: list[dict[tuple[str, ...], float]] = [{} for _ in range(4)]
        norm = [0.0] * 4
        length = 0
        for gram, tf in counts.items():
            n = len(gram) - 1
            value = tf * (log_num_docs - math.log(max(1.0, document_frequency[gram])))
            vec[n][gram] = value
            norm[n] += value**2
            if n == 1:
                length += tf
        return vec, [math.sqrt(x) for x in norm], length

    scores = []
    for hyp, refs in zip(hyp_counts, ref_counts, strict=True):
        vec_h, norm_h, len_h = vectorise(hyp)
        total = np.zeros(4)
        for ref in refs:
            vec_r, norm_r, len_r = vectorise(ref)
            penalty = math.exp(-((len_h - len_r) ** 2) / (2 * sigma**2))
            for n in range(4):
                value = sum(min(v, vec_r[n].get(g, 0.0)) * vec_r[n].get(g, 0.0) for g, v in vec_h[n].items())
                if norm_h[n] != 0 and norm_r[n] != 0:
                    value /= norm_h[n] * norm_r[n]
                total[n] += value * penalty
        scores.append(float(np.mean(total)) / len(refs) * 10.0)
    return float(np.mean(scores))


def _cider_counts(tokens: Sequence[str]) -> Counter[tuple[str, ...]]:
    counts: Counter[tuple[str, ...]] = Counter()
    for n in range(1, 5):
        counts.update(_ngram_counts(tokens, n))
    return counts


# ----------------------------------------------------------------------------------------------------------
# METEOR
# ----------------------------------------------------------------------------------------------------------

# Meteor 1.5 "rank" task parameters for English: alpha, beta, gamma, delta; module weights exact, stem.
_METEOR_ALPHA, _METEOR_BETA, _METEOR_GAMMA, _METEOR_DELTA = 0.85, 0.20, 0.60, 0.75
_METEOR_WEIGHTS = (1.0, 0.6)
_METEOR_SEARCH_WEIGHTS = (1.0, 0.5)  # the aligner ranks partial alignments with these (MeteorScorer)
_METEOR_BEAM = 40
# Meteor 1.5's English function-word list (resource function/english.words of meteor-1.5.jar): the most
# frequent tokens of its training text. Function-word matches and lengths weigh 1 - delta, others delta.
_FUNCTION_WORDS_TEXT = (
    "the , . to of and a in that for \" is on 's it with was as said at he by be from have has are his but "
    "an this not i will ’ they ) -rrb- ( -lrb- who their had we which were been more or s its would about "
    "new one after you : also up when there than $ all out her people she year two - can if last first “ "
    "over other ” into some what so -- no time years could ? 't — '"
)
_METEOR_FUNCTION_WORDS = frozenset(_FUNCTION_WORDS_TEXT.split())
_ALPHA = "A-Za-zŠŽšžŸÀ-ÖØ-öø-žЀ-ӿԀ-ԧꙀ-ꙮ꙾-ꚗᴀ-ᵿ"
_ALNUM = "0-9" + _ALPHA
_METEOR_NORM_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"([^{_ALNUM}\s.'`,\-‘’])"), r" \1 "),  # separate other symbols
    (re.compile(r"([^0-9]),([^0-9])"), r"\1 , \2"),  # commas, except inside numbers
    (re.compile(r"([0-9]),([^0-9])"), r"\1 , \2"),
    (re.compile(r"([^0-9]),([0-9])"), r"\1 , \2"),
    (re.compile(r"[`‘’]"), "'"),
    (re.compile(r"[“”]|''"), ' " '),
    (re.compile("–"), "-"),
    (re.compile("--"), "-"),
    (re.compile(rf"([{_ALNUM}.])-([{_ALNUM}])"), r"\1 \2"),  # family-friendly -> family friendly
    (re.compile(rf"([^{_ALPHA}])'([^{_ALPHA}])"), r"\1 ' \2"),  # English contractions split right
    (re.compile(rf"([^{_ALPHA}0-9])'([{_ALPHA}])"), r"\1 ' \2"),
    (re.compile(rf"([{_ALPHA}])'([^{_ALPHA}])"), r"\1 ' \2"),
    (re.compile(rf"([{_ALPHA}])'([{_ALPHA}])"), r"\1 '\2"),
    (re.compile(r"([0-9])'(s)"), r"\1 '\2"),
]
# Entries of Meteor's English non-breaking-prefix list that can occur in lowercased text (the others are
# capitalised or single capitals). Value True: only non-breaking before a number.
_METEOR_NONBREAKING = {"v": False, "vs": False, "i.e": False, "rev": False, "e.g": False, "pp": True}


def _meteor_normalize(line: str) -> list[str]:
    """Meteor 1.5 `-norm` normalisation for English (Normalizer.normalizeLine, punctuation kept), lowercased."""
    s = f" {line} "
    s = re.sub(r"\.(\.+)", r" DOTMULTI\1", s)
    while "DOTMULTI." in s:
        s = re.sub(r"DOTMULTI\.([^.])", r"DOTDOTMULTI \1", s)
        s = s.replace("DOTMULTI.", "DOTDOTMULTI")
    for pattern, replacement in _METEOR_NORM_RULES:
        s = pattern.sub(replacement, s)
    words = s.split()
    out = []
    for i, word in enumerate(words):
        following = words[i + 1] if i + 1 < len(words) else ""
        if len(word) > 1 and word.endswith("."):
            prefix = word[:-1]
            numeric_only = _METEOR_NONBREAKING.get(prefix)
            keep_dot = (
                numeric_only is False  # always non-breaking
                or re.match(r"[a-z]", following)
                is not None  # followed by lowercase: an unlisted abbreviation
                or (numeric_only is True and re.match(r"[0-9]", following) is not None)
            )
            if "." in prefix and re.search(f"[{_ALPHA}]", prefix):
                out.append(word.replace(".", ""))  # U.S. -> US
            elif keep_dot:
                out.append(word)
            else:
                out.extend([prefix, "."])
        else:
            out.append(word)
    s = " ".join(out)
    while "DOTDOTMULTI" in s:
        s = s.replace("DOTDOTMULTI", "DOTMULTI.")
    s = s.replace("DOTMULTI", ".")
    return s.lower().split()


@lru_cache(maxsize=1)
def _snowball_english():
    """NLTK's Snowball English stemmer (imported on first use: nltk is slow to import). On the 1,362 words
    of the E2E references it stems exactly as the jar's org.tartarus.snowball englishStemmer does."""
    from nltk.stem.snowball import SnowballStemmer

    return SnowballStemmer("english")


@lru_cache(maxsize=100_000)
def _stem(word: str) -> str:
    return _snowball_english().stem(word)


class _Path:
    """A partial alignment of Meteor's beam search (PartialAlignment.java)."""

    __slots__ = ("matches", "used_test", "used_ref", "score", "chunks", "idx", "last_end", "distance")

    def __init__(self, n_test: int, n_ref: int) -> None:
        self.matches: list[tuple[int, int] | None] = [None] * n_ref  # ref index -> (test index, module)
        self.used_test = [False] * n_test
        self.used_ref = [False] * n_ref
        self.score = 0  # (truncated) weighted words covered on both sides
        self.chunks = 0
        self.idx = 0
        self.last_end = -1
        self.distance = 0

    def copy(self) -> _Path:
        new = _Path.__new__(_Path)
        new.matches, new.used_test, new.used_ref = self.matches[:], self.used_test[:], self.used_ref[:]
        new.score, new.chunks, new.idx = self.score, self.chunks, self.idx
        new.last_end, new.distance = self.last_end, self.distance
        return new

    def take(self, ref_i: int, test_i: int, module: int) -> None:
        # Java keeps int counters per side (matches1 += 1 * weight), so a 0.5-weighted stem match adds 0.
        self.score += 2 * int(_METEOR_SEARCH_WEIGHTS[module])
        if self.last_end != -1 and test_i != self.last_end:
            self.chunks += 1
        self.idx = ref_i + 1
        self.last_end = test_i + 1

    def rank(self) -> tuple[int, int, int]:
        return (-self.score, self.chunks, self.distance)


def _meteor_align(test: list[str], ref: list[str]) -> list[tuple[int, int] | None]:
    """Meteor 1.5's aligner (Aligner.java) with the exact and stem modules: ref index -> (test index, module).

    Candidate matches: equal words (exact) and different words with equal Snowball stems (stem). Matches that
    are the only candidate for both of their words are fixed; the rest is resolved by a left-to-right beam
    search (beam 40) preferring more covered words, then fewer chunks, then less distance -- reproducing
    the Java code's integer truncation of stem weights and its bookkeeping of distances.
    """
    candidates: list[list[tuple[int, int]]] = [[] for _ in ref]
    test_cover = [0] * len(test)
    ref_cover = [0] * len(ref)
    modules = 1 if test == ref else 2
    for module in range(modules):
        if module == 1:
            test_stems = [_stem(w) for w in test]
            ref_stems = [_stem(w) for w in ref]
        for j, r in enumerate(ref):
            for i, t in enumerate(test):
                matched = t == r if module == 0 else (test_stems[i] == ref_stems[j] and t != r)
                if matched:
                    candidates[j].append((i, module))
                    test_cover[i] += 1
                    ref_cover[j] += 1

    start = _Path(len(test), len(ref))
    for j, options in enumerate(candidates):
        if len(options) == 1 and ref_cover[j] == 1 and test_cover[options[0][0]] == 1:
            start.matches[j] = options[0]
            start.used_ref[j] = start.used_test[options[0][0]] = True

    next_paths = [start]
    for current in range(len(ref) + 1):
        paths = sorted(next_paths, key=_Path.rank)
        next_paths = []
        for path in paths[:_METEOR_BEAM]:
            if current == len(ref):
                if path.last_end != -1:
                    path.chunks += 1
                next_paths.append(path)
                continue
            if path.used_ref[current]:
                if current < path.idx:
                    next_paths.append(path)
                elif path.matches[path.idx] is not None:
                    ref_i = path.idx
                    test_i, module = path.matches[ref_i]
                    path.take(ref_i, test_i, module)
                    path.distance += abs(ref_i - test_i)
                    next_paths.append(path)
                continue
            for test_i, module in candidates[current]:
                if path.used_test[test_i]:
                    continue
                new = path.copy()
                new.used_test[test_i] = new.used_ref[current] = True
                new.matches[current] = (test_i, module)
                new.take(current, test_i, module)
                path.distance += abs(current - test_i)  # sic: Aligner.java adds it to the unextended path
                next_paths.append(new)
            if path.last_end != -1:
                path.chunks += 1
                path.last_end = -1
            path.idx += 1
            next_paths.append(path)
        if not next_paths:
            next_paths.append(paths[0])
    return min(next_paths, key=_Path.rank).matches  # min() keeps the first of equals, as a stable sort


def _meteor_segment_stats(test: list[str], ref: list[str]) -> np.ndarray:
    """Meteor's sufficient statistics of one aligned pair (MeteorStats), as a vector:
    [test_len, ref_len, test_function, ref_function, (test_content, ref_content, test_fn, ref_fn) x 2 modules,
    chunks, test_word_matches, ref_word_matches]."""
    matches = _meteor_align(test, ref)
    stats = np.zeros(15)
    stats[0], stats[1] = len(test), len(ref)
    stats[2] = sum(w in _METEOR_FUNCTION_WORDS for w in test)
    stats[3] = sum(w in _METEOR_FUNCTION_WORDS for w in ref)
    chunks, last_end = 0, -1
    for j, match in enumerate(matches):
        if match is None:
            if last_end != -1:
                chunks += 1
                last_end = -1
            continue
        i, module = match
        base = 4 + 4 * module
        stats[base + (2 if test[i] in _METEOR_FUNCTION_WORDS else 0)] += 1
        stats[base + 1 + (2 if ref[j] in _METEOR_FUNCTION_WORDS else 0)] += 1
        if last_end != -1 and i != last_end:
            chunks += 1
        last_end = i + 1
    if last_end != -1:
        chunks += 1
    stats[12] = chunks
    stats[13] = stats[14] = sum(m is not None for m in matches)
    return stats


def _is_perfect(stats: np.ndarray) -> bool:
    test_total = stats[4:12:2].sum()
    ref_total = stats[5:12:2].sum()
    return bool(test_total == stats[0] and ref_total == stats[1] and stats[12] == 1)


def _meteor_score(stats: np.ndarray) -> float:
    """MeteorScorer.computeMetrics: weighted P and R, F-mean, fragmentation penalty."""
    delta = _METEOR_DELTA
    test_len = delta * (stats[0] - stats[2]) + (1 - delta) * stats[2]
    ref_len = delta * (stats[1] - stats[3]) + (1 - delta) * stats[3]
    test_matched = ref_matched = 0.0
    for module, weight in enumerate(_METEOR_WEIGHTS):
        tc, rc, tf, rf = stats[4 + 4 * module : 8 + 4 * module]
        test_matched += weight * (delta * tc + (1 - delta) * tf)
        ref_matched += weight * (delta * rc + (1 - delta) * rf)
    if test_matched == 0 or ref_matched == 0:
        return 0.0  # the Java code's NaN/0 cases
    precision, recall = test_matched / test_len, ref_matched / ref_len
    f_mean = 1.0 / ((1 - _METEOR_ALPHA) / precision + _METEOR_ALPHA / recall)
    frag = 0.0 if _is_perfect(stats) else stats[12] / ((stats[13] + stats[14]) / 2)
    return max(float(f_mean * (1 - _METEOR_GAMMA * frag**_METEOR_BETA)), 0.0)


def meteor(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Corpus METEOR in percent: a re-implementation of Meteor 1.5 (`-l en -norm`, as e2e-metrics runs it).

    Same as the jar: COCO/PTB tokens, Meteor's English normaliser, its aligner (beam search over
    candidate matches), its "rank" parameters (alpha .85, beta .2, gamma .6, delta .75), function-word
    list, best reference per segment by segment score, and the corpus score computed from summed
    statistics (chunks of perfectly matched segments not added), as the coco-caption jar does.

    Differs from the official jar: only the exact and stem (Snowball) modules. The jar's synonym module
    (WordNet synsets, weight 0.8) and paraphrase module (a 60 MB paraphrase table, weight 0.6) are left
    out (WordNet cannot be downloaded here and neither table ships with a PyPI package we use), so scores
    are mostly a little lower. Measured against meteor-1.5.jar (corpus score, percent):
      e2e-metrics example (10 instances):      ours 47.353, jar 48.007 (-0.65), jar -m "exact stem" 47.353
      E2E dev leave-one-out (547 instances):    ours 44.834, jar 45.376 (-0.54), jar -m "exact stem" 44.834
      same, outputs corrupted (540 instances):  ours 33.028, jar 33.022 (+0.01), jar -m "exact stem" 33.028
    i.e. identical to the jar restricted to exact+stem, and ~0.5-0.7 points below the full jar on fluent
    E2E text: compare our METEOR with published numbers only with that offset in mind.
    """
    total = np.zeros(15)
    for hypothesis, refs in zip(hypotheses, references, strict=True):
        test = _meteor_normalize(" ".join(coco_tokenize(hypothesis)))
        best_stats, best_score = None, -1.0
        for reference in refs:
            stats = _meteor_segment_stats(test, _meteor_normalize(" ".join(coco_tokenize(reference))))
            score = _meteor_score(stats)
            if score > best_score:
                best_stats, best_score = stats, score
        if best_stats is None:
            raise ValueError("every hypothesis needs at least one reference")
        if _is_perfect(best_stats):
            best_stats = best_stats.copy()
            best_stats[12] = 0  # MeteorStats.addStats skips the chunk of a perfect match
        total += best_stats
    return 100.0 * float(_meteor_score(total))


# ----------------------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------------------

_NLG_FUNCTIONS = {
    "bleu": bleu,
    "nist": nist,
    "meteor": meteor,
    "rouge_l": rouge_l,
    "cider": cider,
    "ter": ter,
    "chrf": chrf,
}


def nlg_scores(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]], names: Sequence[str]
) -> dict[str, float]:
    """Corpus-level NLG metrics by name; each hypothesis has one or more references.

    bleu, meteor, rouge_l, chrf in percent; nist and cider raw; ter as a fraction (lower is better).
    The E2E definitions above serve every dataset (WebNLG and DART included; their challenge scripts used
    multi-bleu / tercom variants, so compare across papers with care). Raw text in, no tokenisation needed.
    """
    unknown = [n for n in names if n not in _NLG_FUNCTIONS]
    if unknown:
        raise ValueError(f"unknown NLG metric(s) {unknown}; valid names: {list(NLG_METRIC_NAMES)}")
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
    if not hypotheses:
        raise ValueError("no hypotheses to score")
    if any(len(refs) == 0 for refs in references):
        raise ValueError("every hypothesis needs at least one reference")
    return {name: _NLG_FUNCTIONS[name](hypotheses, references) for name in names}
