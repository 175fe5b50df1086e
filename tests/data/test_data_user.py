"""User data as users have it: .csv/.tsv tables, a seeded held-out split by default, bad arrays rejected."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genzoo.data import get, load_table
from genzoo.errors import ConfigError, DataError


def _pts(n=40, d=3, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d))


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_and_without_header_matches_the_values(tmp_path):
    pts = _pts()
    np.savetxt(tmp_path / "plain.csv", pts, delimiter=",")
    np.savetxt(tmp_path / "head.csv", pts, delimiter=",", header="a,b,c", comments="")
    plain = get(tmp_path / "plain.csv", holdout=0)
    head = get(str(tmp_path / "head.csv"), holdout=0)
    for ds in (plain, head):
        assert ds.kind == "points" and ds.x.dtype == torch.float32 and ds.x.shape == (40, 3) and ds.y is None
        assert np.allclose(ds.x.numpy(), pts.astype(np.float32))
    assert head.meta["columns"] == ["a", "b", "c"] and "columns" not in plain.meta
    # the same points from a .npy file come back identical
    np.save(tmp_path / "pts.npy", pts)
    assert torch.equal(get(tmp_path / "pts.npy", holdout=0).x, plain.x)


def test_tsv_blank_lines_comments_and_a_byte_order_mark(tmp_path):
    _write(tmp_path / "p.tsv", "\ufeffx\ty\n# a comment\n1\t2\n\n 3 \t-4.5e0\n")
    ds = get(tmp_path / "p.tsv", holdout=0)
    assert ds.x.tolist() == [[1.0, 2.0], [3.0, -4.5]] and ds.meta["columns"] == ["x", "y"]
    _write(tmp_path / "comma.tsv", "1,2\n3,4\n")  # commas in a .tsv: one field per row, named
    with pytest.raises(DataError, match=r"comma.tsv:2: '3,4' is not a number .*separate fields with commas"):
        get(tmp_path / "comma.tsv", holdout=0)


def test_string_label_column_by_name(tmp_path):
    _write(tmp_path / "l.csv", "x,class,y\n0,dog,1\n2,cat,3\n4,dog,5\n6,emu,7\n")
    ds = get(tmp_path / "l.csv", label="class", holdout=0)
    assert ds.x.tolist() == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert ds.y.dtype == torch.int64 and ds.y.tolist() == [1, 0, 1, 2]  # sorted: cat 0, dog 1, emu 2
    assert ds.meta["classes"] == ["cat", "dog", "emu"] and ds.num_classes == 3 and ds.meta["label"] == "class"
    assert ds.meta["columns"] == ["x", "y"]
    with pytest.raises(DataError, match=r"l.csv: no column named 'klass'; the columns are 'x', 'class', 'y'"):
        get(tmp_path / "l.csv", label="klass")
    with pytest.raises(DataError, match=r"l.csv:2: 'dog' is not a number \(column 'class'\).*label="):
        get(tmp_path / "l.csv")  # without label= the names column is a bad value, with a hint


def test_integer_labels_kept_or_mapped(tmp_path):
    _write(tmp_path / "a.csv", "1.5,2\n2.5,0\n3.5,1\n")  # no header: the label column by position
    ds = get(tmp_path / "a.csv", label=-1, holdout=0)
    assert ds.y.tolist() == [2, 0, 1] and "classes" not in ds.meta and ds.num_classes == 3
    assert ds.x[:, 0].tolist() == [1.5, 2.5, 3.5]
    _write(tmp_path / "b.csv", "v,k\n1,10\n2,-3\n3,10\n")  # non-contiguous: mapped in sorted order
    ds = get(tmp_path / "b.csv", label="k", holdout=0)
    assert ds.y.tolist() == [1, 0, 1] and ds.meta["classes"] == [-3, 10]
    with pytest.raises(DataError, match="no header row, so no column is named 'k'"):
        get(tmp_path / "a.csv", label="k")
    with pytest.raises(ConfigError, match="label column 2 does not exist; the file has 2 columns"):
        get(tmp_path / "a.csv", label=2)
    with pytest.raises(ConfigError, match="label names a column of a .csv/.tsv table"):
        np.save(tmp_path / "p.npy", _pts())
        get(tmp_path / "p.npy", label="k")


def test_malformed_rows_name_the_file_and_line(tmp_path):
    rows = "\n".join("1,2,3" for _ in range(15))
    _write(tmp_path / "points.csv", f"a,b,c\n{rows}\n4,5\n")
    with pytest.raises(DataError, match=r"points.csv:17: expected 3 fields \(as the header\), got 2$"):
        get(tmp_path / "points.csv")
    _write(tmp_path / "points.csv", "1,2,3\n4,abc,6\n")
    with pytest.raises(DataError, match=r"points.csv:2: 'abc' is not a number \(column 1\)"):
        get(tmp_path / "points.csv")
    _write(tmp_path / "points.csv", "1,2,3\n4,,6\n")
    with pytest.raises(DataError, match=r"points.csv:2: empty field in column 1"):
        get(tmp_path / "points.csv")
    _write(tmp_path / "semi.csv", "1;2\n3;4\n")
    with pytest.raises(DataError, match="semi.csv:2: '3;4' is not a number.*semicolons"):
        get(tmp_path / "semi.csv")


@pytest.mark.parametrize("text,needle", [("x,y\n1,2\n3,nan\n", r"bad.csv:3: 'nan' in column 'y': NaN and inf"),
                                         ("1,2\n-inf,0\n", r"bad.csv:2: '-inf' in column 0: NaN and inf"),
                                         ("1,1e39\n", r"bad.csv:1: '1e39' in column 1: it is too large for float32"),
                                         ("", r"bad.csv: empty file; expected rows of numbers separated by commas"),
                                         ("\n# only a comment\n\n", r"bad.csv: empty file"),
                                         ("x,y\n", r"bad.csv: only a header row \(line 1\), no data rows")])
def test_nan_inf_and_empty_tables_rejected(tmp_path, text, needle):
    _write(tmp_path / "bad.csv", text)
    with pytest.raises(DataError, match=needle):
        load_table(tmp_path / "bad.csv")


def test_bad_npy_dtypes_rejected(tmp_path):
    np.save(tmp_path / "c.npy", _pts() * (1 + 2j))
    with pytest.raises(DataError, match=r"c.npy: complex values \(dtype complex128\); expected real numbers"):
        get(tmp_path / "c.npy")
    np.save(tmp_path / "s.npy", np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(DataError, match=r"s.npy: holds strings \(dtype <U1\)"):
        get(tmp_path / "s.npy")
    np.save(tmp_path / "o.npy", np.array([[1, "a"], [None, 2]], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"o.npy: holds Python objects \(dtype object\)"):
        get(tmp_path / "o.npy")
    np.save(tmp_path / "r.npy", np.zeros(4, dtype=[("a", "f4"), ("b", "f4")]))
    with pytest.raises(DataError, match="r.npy: a structured array with fields a, b"):
        get(tmp_path / "r.npy")


def test_default_holdout_is_a_seeded_disjoint_ten_percent(tmp_path):
    n = 200
    pts = np.arange(n * 2, dtype=np.float64).reshape(n, 2)  # row i is identified by its first value 2i
    np.save(tmp_path / "p.npy", pts)
    train, test = get(tmp_path / "p.npy", "train"), get(tmp_path / "p.npy", "test")
    ids_train = (train.x[:, 0] / 2).long().tolist()
    ids_test = (test.x[:, 0] / 2).long().tolist()
    assert len(ids_test) == 20 and len(ids_train) == 180
    assert not set(ids_train) & set(ids_test) and sorted(ids_train + ids_test) == list(range(n))
    assert test.meta["holdout"] == 0.1 and test.meta["seed"] == 0 and test.meta["split"] == "test"
    assert torch.equal(get(tmp_path / "p.npy", "test").x, test.x)  # reproducible
    other = get(tmp_path / "p.npy", "test", seed=1)
    assert not torch.equal(other.x, test.x)  # the seed chooses the permutation
    assert sorted(ids_test) != list(range(20))  # a random subset, not the first rows
    # the same rows as a .csv split the same way (one permutation for every kind of user data)
    np.savetxt(tmp_path / "p.csv", pts, delimiter=",")
    assert torch.equal(get(tmp_path / "p.csv", "test").x, test.x)
    assert len(get(tmp_path / "p.npy", "val", holdout=0.25)) == 50
    assert len(get(tmp_path / "p.npy", "train", holdout=0)) == n


def test_holdout_keeps_labels_with_their_rows(tmp_path):
    rows = "\n".join(f"{i},{'ab'[i % 2]}" for i in range(30))
    _write(tmp_path / "l.csv", f"v,c\n{rows}\n")
    for split in ("train", "test"):
        ds = get(tmp_path / "l.csv", split, label="c")
        assert ds.y.tolist() == [int(v) % 2 for v in ds.x[:, 0].tolist()]
    assert len(get(tmp_path / "l.csv", "test", label="c")) == 3


def test_holdout_validated_and_a_missing_split_says_how(tmp_path):
    np.save(tmp_path / "p.npy", _pts(10))
    for bad in (1.0, -0.1, "a", True, [0.1]):
        with pytest.raises(ConfigError, match=r"holdout must lie in \[0, 1\)"):
            get(tmp_path / "p.npy", holdout=bad)
    with pytest.raises(ConfigError, match="seed .* must be an integer"):
        get(tmp_path / "p.npy", seed=0.5)
    with pytest.raises(DataError, match=r"p.npy: no test split with holdout=0; .*--set data.holdout=0\.1"):
        get(tmp_path / "p.npy", "test", holdout=0)
    np.save(tmp_path / "one.npy", _pts(1))
    with pytest.raises(DataError, match=r"1 examples are too few .*--set data.holdout=0\)"):
        get(tmp_path / "one.npy")
    assert len(get(tmp_path / "one.npy", holdout=0)) == 1


def test_cli_train_and_evaluate_on_a_csv(tmp_path, capsys):
    from genzoo.cli import main

    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.normal(-2, 0.5, (60, 2)), rng.normal(2, 0.5, (60, 2))])
    np.savetxt(tmp_path / "pts.csv", pts, delimiter=",", header="x,y", comments="")
    out = tmp_path / "run"
    assert main(["train", "realnvp", "--data", str(tmp_path / "pts.csv"), "--steps", "3", "--out", str(out),
                 "--no-progress", "--set", "train.batch_size=16"]) == 0
    assert main(["evaluate", str(out)]) == 0
    captured = capsys.readouterr()
    assert "test split" in captured.out and "no held-out split" not in captured.err
