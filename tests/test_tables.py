"""`jm.fit_groups`: pandas, polars and Arrow tables in, one row per group out, each row equal to
fitting that group alone; ragged groups go into one batch per power-of-two size bucket."""

import sys

import numpy as np
import pytest

import jaxmle as jm

pd = pytest.importorskip("pandas")

TABLES = sys.modules["jaxmle.tables"]
N_GROUPS = 2000


def _lifetimes(seed=0):
    """2,000 sensors with 1 to 200 Weibull lifetimes each (log-uniform: many small sensors, a
    few large ones), right-censored at 1,500 hours; the rows interleaved. Sensors of one row cannot identify two parameters, and three sensors
    hold a negative reading (outside the support): both are invalid."""
    rng = np.random.default_rng(seed)
    sizes = np.exp(rng.uniform(0.0, np.log(201.0), size=N_GROUPS)).astype(np.int64)
    sizes[:4] = [1, 2, 200, 129]
    shape = rng.uniform(0.8, 3.0, N_GROUPS)
    scale = rng.uniform(400.0, 2000.0, N_GROUPS)
    g = np.repeat(np.arange(N_GROUPS), sizes)
    life = scale[g] * rng.weibull(shape[g])
    hours, failed = np.minimum(life, 1500.0), (life <= 1500.0).astype(np.int64)
    bad = np.array([5, 17, 1234])
    for b in bad:
        hours[np.flatnonzero(g == b)[0]] = -1.0
    order = rng.permutation(g.size)
    names = np.array([f"s{i:04d}" for i in range(N_GROUPS)])
    df = pd.DataFrame({"sensor": names[g[order]], "hours": hours[order], "failed": failed[order]})
    return df, sizes, bad


@pytest.fixture(scope="module")
def lifetimes():
    return _lifetimes()


def _fit_counting_batches(table, **kw):
    """fit_groups' table, and the data shapes of the fit_batch calls it made."""
    calls = []
    real = TABLES.fit_batch

    def spy(model, data, **kw):
        calls.append(data["x"].shape)
        return real(model, data, **kw)

    TABLES.fit_batch = spy
    try:
        out = jm.fit_groups(table, "weibull", by="sensor", value="hours", event="failed", **kw)
    finally:
        TABLES.fit_batch = real
    return out, calls


@pytest.fixture(scope="module")
def fitted(lifetimes):
    """The pandas table's fit in power-of-two buckets, and its fit_batch calls."""
    return _fit_counting_batches(lifetimes[0], buckets="pow2")


def test_one_row_per_group_and_columns(fitted, lifetimes):
    out, _ = fitted
    _, sizes, bad = lifetimes
    assert list(out.columns) == [
        "sensor", "shape", "shape_se", "shape_lo", "shape_hi",
        "scale", "scale_se", "scale_lo", "scale_hi", "loglik", "nobs", "status",
    ]  # fmt: skip
    assert out["sensor"].tolist() == [f"s{i:04d}" for i in range(N_GROUPS)]  # sorted
    invalid = np.flatnonzero(out["status"] == "INVALID_DATA")
    assert set(invalid) == set(bad) | set(np.flatnonzero(sizes == 1))
    # the observations used: none in an invalid group
    assert out["nobs"].dtype == np.int64
    assert (
        out["nobs"].tolist() == np.where(np.isin(np.arange(N_GROUPS), invalid), 0, sizes).tolist()
    )
    assert out.loc[invalid, "shape"].isna().all()
    assert (out.drop(index=invalid)["status"] == "CONVERGED").mean() > 0.95


def test_one_batch_per_size_bucket(fitted, lifetimes):
    """Sizes 1 to 200: the buckets 1, 2, 3-4, ..., 129-256, each padded to its longest group
    (one batch padded to 200 rows would hold more than twice the rows)."""
    _, calls = fitted
    _, sizes, _ = lifetimes
    width = jm.tables.bucket_width(sizes)
    want = sorted((int((width == w).sum()), int(sizes[width == w].max())) for w in set(width))
    assert sorted(calls) == want and len(calls) == 9
    assert N_GROUPS * sizes.max() > 2 * sizes.sum()


def _alone(df, name):
    rows = df[df["sensor"] == name]
    return jm.fit_dist("weibull", rows["hours"].to_numpy(), event=rows["failed"].to_numpy())


def _check_sample(out, df, lifetimes):
    _, sizes, bad = lifetimes
    valid = np.flatnonzero((sizes >= 2) & ~np.isin(np.arange(N_GROUPS), bad))
    for i in [2, 3, *valid[[10, 700, -1]]]:  # (groups 2 and 3: 200 and 129 rows)
        alone = _alone(df, f"s{i:04d}")
        row = out.iloc[i]
        assert row["status"] == jm.Status(int(alone.status)).name
        for name in ("shape", "scale"):
            np.testing.assert_allclose(row[name], float(alone.params[name]), rtol=1e-8)
            np.testing.assert_allclose(row[f"{name}_se"], float(alone.se[name]), rtol=1e-6)
        np.testing.assert_allclose(row["loglik"], float(alone.loglik), rtol=1e-10)
    for i in [0, int(bad[0])]:  # alone, an invalid group is an error
        with pytest.raises(ValueError, match="fewer observations|outside the support"):
            _alone(df, f"s{i:04d}")


def test_pandas_rows_equal_each_group_alone(fitted, lifetimes):
    _check_sample(fitted[0], lifetimes[0], lifetimes)


def _same(a, b):
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-8)


def test_polars_table_in_one_batch(fitted, lifetimes):
    """By default (buckets="auto") the 2,000 groups are one batch: padding 75,000 rows to
    2,000 x 200 cells costs less than the compilations of 9 buckets; the same numbers."""
    pl = pytest.importorskip("polars")
    out, calls = _fit_counting_batches(pl.from_pandas(lifetimes[0]))
    assert calls == [(N_GROUPS, 200)]
    _same(out, fitted[0])


def test_arrow_table_and_parquet(fitted, lifetimes, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    df = lifetimes[0]
    pq.write_table(pa.Table.from_pandas(df), tmp_path / "lifetimes.parquet")
    table = pq.read_table(tmp_path / "lifetimes.parquet")
    out = jm.fit_groups(table, "weibull", by="sensor", value="hours", event="failed")
    _same(out, fitted[0])


# -- small tables: the options --------------------------------------------------------------
SMALL = {
    "site": ["n", "n", "n", "s", "s", "s", "s", "n"],
    "unit": [1, 1, 2, 1, 1, 2, 2, 2],
    "x": [2.0, 4.0, 1.0, 3.0, 5.0, 2.0, 6.0, 3.0],
}


def test_small_parquet_file_equals_the_pandas_table(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    df = pd.DataFrame(SMALL)
    pq.write_table(pa.Table.from_pandas(df), tmp_path / "small.parquet")
    table = pq.read_table(tmp_path / "small.parquet")
    out = jm.fit_groups(table, "exponential", by=["site", "unit"], value="x")
    _same(out, jm.fit_groups(df, "exponential", by=["site", "unit"], value="x"))
    np.testing.assert_allclose(out["rate"], [1 / 3, 1 / 2, 1 / 4, 1 / 4], rtol=1e-12)


def test_several_by_columns_and_none():
    df = pd.DataFrame(SMALL)
    out = jm.fit_groups(df, "exponential", by=["site", "unit"], value="x")
    assert out[["site", "unit"]].values.tolist() == [["n", 1], ["n", 2], ["s", 1], ["s", 2]]
    np.testing.assert_allclose(out["rate"], [1 / 3, 1 / 2, 1 / 4, 1 / 4], rtol=1e-12)
    whole = jm.fit_groups(df, "exponential", by=None, value="x")
    assert list(whole.columns)[:2] == ["rate", "rate_se"] and len(whole) == 1
    np.testing.assert_allclose(whole["rate"], [8 / 26], rtol=1e-12)


def test_user_model_columns_and_weights():
    import jax.numpy as jnp

    def loglik(p, data):  # a regression through the origin: y ~ N(b x, sigma)
        x, y = data
        return -0.5 * ((y - p["b"] * x) / p["sigma"]) ** 2 - jnp.log(p["sigma"]) - 0.9189385332

    model = jm.Model(loglik, {"b": jm.Real(), "sigma": jm.Positive()})
    rng = np.random.default_rng(3)
    g = np.repeat(["a", "b", "c"], [5, 9, 30])
    x = rng.normal(size=g.size)
    y = np.where(g == "a", 1.0, 2.0) * x + rng.normal(size=g.size)
    df = pd.DataFrame({"g": g, "x": x, "y": y, "w": rng.integers(1, 4, g.size)})
    out = jm.fit_groups(df, model, by="g", columns=("x", "y"), weights="w", buckets="pow2")
    for name in "abc":
        sel = g == name
        alone = jm.fit(model, (x[sel], y[sel]), weights=df["w"].to_numpy()[sel])
        row = out[out["g"] == name].iloc[0]
        np.testing.assert_allclose(row["b"], float(alone.params["b"]), rtol=1e-8)
        np.testing.assert_allclose(row["sigma_se"], float(alone.se["sigma"]), rtol=1e-6)
        assert row["nobs"] == df["w"][sel].sum()
    named = jm.Model(lambda p, d: loglik(p, (d["x"], d["y"])), model.spec)
    by_dict = jm.fit_groups(df, named, by="g", columns={"x": "x", "y": "y"}, weights="w")
    np.testing.assert_allclose(by_dict["b"], out["b"], rtol=1e-10)


def test_missing_values_and_mistakes():
    df = pd.DataFrame({"g": ["a", "a", "b", "b", "b"], "x": [1.0, np.nan, 2.0, 3.0, 1.0]})
    with pytest.raises(ValueError, match="column 'x' has a missing value on row 1"):
        jm.fit_groups(df, "exponential", by="g", value="x")
    out = jm.fit_groups(df, "exponential", by="g", value="x", nan_policy="omit")
    assert out["nobs"].tolist() == [1, 3] and out["rate"].round(12).tolist() == [1.0, 0.5]
    with pytest.raises(ValueError, match="no column 'hours'.*the columns are: g, x"):
        jm.fit_groups(df, "exponential", by="g", value="hours")
    with pytest.raises(ValueError, match="column 'g' .* missing value on row 0"):
        jm.fit_groups(df.assign(g=[None, "a", "b", "b", "b"]), "exponential", by="g", value="x")
    with pytest.raises(ValueError, match="by='rate'"):
        jm.fit_groups(df.rename(columns={"g": "rate"}), "exponential", by="rate", value="x")
    with pytest.raises(ValueError, match="columns="):
        jm.fit_groups(df, jm.families.Exponential(), by="g", value="x")
    with pytest.raises(TypeError, match="pandas or polars DataFrame"):
        jm.fit_groups([1, 2], "exponential", by=None, value="x")
    binom = jm.fit_groups(df.fillna(0.0), "binomial", by="g", value="x", trials=3)
    np.testing.assert_allclose(binom["p"], [1 / 6, 2 / 3], rtol=1e-10)


def test_a_table_sorted_by_the_key_is_laid_out_without_a_copy_and_fits_the_same():
    # groups of one size in one bucket, the rows sorted by the key (a table partitioned by
    # sensor): the padded arrays are views of the columns; the same rows shuffled are gathered
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(40), 25)
    hours = rng.weibull(1.5, g.size) * 100.0
    failed = (rng.uniform(size=g.size) < 0.7).astype(np.int64)
    table = pd.DataFrame({"sensor": g, "hours": hours, "failed": failed})
    inverse = g.astype(np.int64)
    arrays, w, mask = TABLES._pad_bucket(
        {"x": hours}, None, None, inverse, np.tile(np.arange(25), 40), 40, 25
    )
    assert np.shares_memory(arrays["x"], hours) and w is None and mask is None
    np.testing.assert_array_equal(arrays["x"], hours.reshape(40, 25))
    kw = dict(by="sensor", value="hours", event="failed")
    ordered = jm.fit_groups(table, "weibull", **kw)
    shuffled = jm.fit_groups(table.sample(frac=1.0, random_state=1), "weibull", **kw)
    assert (ordered["status"] == "CONVERGED").all()
    for col in ("shape", "scale", "shape_se", "loglik"):
        np.testing.assert_allclose(ordered[col], shuffled[col], rtol=1e-10)


@pytest.mark.parametrize(
    "col",
    [
        np.repeat(np.arange(5), 3),  # sorted: labels and row numbers in one pass
        np.array([3, 1, 1, 2]),  # not sorted: np.unique
        np.array([0.5, 0.5, 2.0]),
        np.array(["2020-01-01", "2020-01-01", "2021-06-01"], dtype="datetime64[D]"),
        np.array([True, True]),
        np.array([7]),
    ],
)
def test_group_rows_of_a_sorted_key_equal_those_of_np_unique(col):
    (labels,), inverse = TABLES.group_rows([col], ["g"])
    want_labels, want_inverse = np.unique(col, return_inverse=True)
    np.testing.assert_array_equal(labels, want_labels)
    np.testing.assert_array_equal(inverse, want_inverse.reshape(-1))


def test_a_missing_key_in_a_sorted_column_is_still_reported():
    # NaN compares false: the column takes the general path, which names the row
    with pytest.raises(ValueError, match="missing value on row 1"):
        TABLES.group_rows([np.array([0.5, np.nan, np.nan])], ["g"])
