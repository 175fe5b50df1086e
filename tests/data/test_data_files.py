"""IDX reading/writing, checksums, shipped MNIST-10k, Stacked MNIST, and the errors on bad files."""

import gzip
import shutil

import numpy as np
import pytest
import torch

from genzoo.data import load_mnist, read_idx, sha256_file, stacked_mnist, verify_checksum, write_idx
from genzoo.data.mnist import MNIST10K
from genzoo.errors import DataError


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_round_trip(tmp_path, suffix, dtype):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((5, 3, 4)) * 50).astype(dtype)
    p = write_idx(tmp_path / f"a-idx3{suffix}", a)
    b = read_idx(p)
    assert b.dtype == np.dtype(dtype) and b.shape == a.shape
    np.testing.assert_array_equal(a, b)
    if suffix:
        assert p.read_bytes()[:2] == b"\x1f\x8b"  # really gzip


def test_idx_header_bytes_and_torch_input(tmp_path):
    p = write_idx(tmp_path / "lab-idx1-ubyte", torch.arange(7, dtype=torch.uint8))
    raw = p.read_bytes()
    assert raw[:8] == bytes([0, 0, 0x08, 1, 0, 0, 0, 7])  # magic 0x00000801, then the size big-endian
    assert raw[8:] == bytes(range(7))
    np.testing.assert_array_equal(read_idx(p), np.arange(7))


def test_wrong_magic_number(tmp_path):
    p = tmp_path / "bad-idx3-ubyte"
    p.write_bytes(b"\x89PNG" + bytes(20))
    with pytest.raises(DataError, match=r"bad-idx3-ubyte: wrong magic number 0x89504E47; expected an IDX file"):
        read_idx(p)


def test_truncated_file_raw_and_gz(tmp_path):
    a = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    raw = write_idx(tmp_path / "x-idx3-ubyte", a).read_bytes()
    p = tmp_path / "cut-idx3-ubyte"
    p.write_bytes(raw[:-100])
    with pytest.raises(DataError, match=r"cut-idx3-ubyte: truncated IDX file: shape \(2, 28, 28\) of uint8 needs 1568 "
                                        r"data bytes, found 1468"):
        read_idx(p)
    p.write_bytes(raw[:6])
    with pytest.raises(DataError, match="truncated IDX header"):
        read_idx(p)
    p.write_bytes(raw + b"xx")
    with pytest.raises(DataError, match="2 unexpected trailing bytes"):
        read_idx(p)
    gz = tmp_path / "cut-idx3-ubyte.gz"
    gz.write_bytes(gzip.compress(raw)[:-30])
    with pytest.raises(DataError, match=r"cut-idx3-ubyte.gz: corrupt or truncated gzip file"):
        read_idx(gz)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(DataError, match="nope-idx1-ubyte: no such file"):
        read_idx(tmp_path / "nope-idx1-ubyte")
    with pytest.raises(DataError, match=r"does-not-exist: MNIST folder does not exist; expected a folder with "
                                        r"train-images-idx3-ubyte"):
        load_mnist(tmp_path / "does-not-exist")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: missing train-images-idx3-ubyte\[.gz\]"):
        load_mnist(tmp_path / "empty")


def test_user_mnist_folder_raw_files_and_label_mismatch(tmp_path):
    imgs = np.random.default_rng(1).integers(0, 256, (6, 28, 28)).astype(np.uint8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", imgs)  # raw and gz files mix freely
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.arange(6, dtype=np.uint8))
    x, y = load_mnist(tmp_path, "test")
    assert x.shape == (6, 1, 28, 28) and x.dtype == torch.uint8 and y.dtype == torch.int64
    assert torch.equal(x[:, 0], torch.from_numpy(imgs)) and y.tolist() == list(range(6))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.arange(5, dtype=np.uint8))
    with pytest.raises(DataError, match="5 labels for 6 images"):
        load_mnist(tmp_path, "val")


def test_checksum_mismatch(tmp_path):
    shutil.copytree(MNIST10K, tmp_path / "m")
    load_mnist(tmp_path / "m", "test")  # a copy with its SHA256SUMS verifies
    p = tmp_path / "m" / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(p.read_bytes())
    raw[100] ^= 0xFF  # one flipped byte
    p.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: checksum mismatch: sha256 [0-9a-f]{64}, "
                                        r"expected 988b9652"):
        load_mnist(tmp_path / "m", "test")
    with pytest.raises(DataError, match="checksum mismatch"):
        verify_checksum(p)


def test_shipped_mnist10k():
    sums = dict(reversed(line.split()) for line in (MNIST10K / "SHA256SUMS").read_text().splitlines())
    for name, h in sums.items():
        assert sha256_file(MNIST10K / name) == h
    assert "CC BY-SA 3.0" in (MNIST10K / "README.md").read_text()
    for split, n in [("train", 8000), ("test", 2000)]:
        x, y = load_mnist(split=split)
        assert x.shape == (n, 1, 28, 28) and x.dtype == torch.uint8
        assert y.shape == (n,) and y.dtype == torch.int64
        assert y.min() == 0 and y.max() == 9 and len(y.unique()) == 10
        assert x.max() == 255 and 0.1 < x.float().mean() / 255 < 0.15  # MNIST's mean intensity is 0.13


def test_stacked_mnist_labels_consistent():
    digits_x, digits_y = load_mnist(split="test")
    x, y = stacked_mnist(50, seed=3, split="test")
    assert x.shape == (50, 3, 28, 28) and y.shape == (50,) and 0 <= y.min() and y.max() <= 999
    lookup = {bytes(img.numpy().tobytes()): int(lab) for img, lab in zip(digits_x[:, 0], digits_y)}
    for img, lab in zip(x, y):
        d = [lookup[bytes(img[c].numpy().tobytes())] for c in range(3)]
        assert lab == 100 * d[0] + 10 * d[1] + d[2]
    x2, y2 = stacked_mnist(50, seed=3, split="test")
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(stacked_mnist(50, seed=4, split="test")[1], y)


def test_gzip_is_detected_by_its_magic_bytes_not_the_name(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    gz = write_idx(tmp_path / "a-idx3-ubyte.gz", a)
    renamed = tmp_path / "a-idx3-ubyte"  # compressed, but without the .gz suffix
    renamed.write_bytes(gz.read_bytes())
    np.testing.assert_array_equal(read_idx(renamed), a)
    raw_named_gz = tmp_path / "b-idx3-ubyte.gz"  # decompressed in place by a tool that kept the name
    raw_named_gz.write_bytes(gzip.decompress(gz.read_bytes()))
    np.testing.assert_array_equal(read_idx(raw_named_gz), a)
    # a failed download saved under the IDX name is recognised as such
    html = tmp_path / "train-images-idx3-ubyte.gz"
    html.write_bytes(b"<!DOCTYPE html><html><body>403 Forbidden</body></html>")
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: wrong magic number 0x3C21444F.*HTML.*failed "
                                        r"download"):
        read_idx(html)


def test_checksum_file_problems_are_data_errors(tmp_path):
    p = write_idx(tmp_path / "x-idx1-ubyte", np.arange(3, dtype=np.uint8))
    with pytest.raises(DataError, match=r"SHA256SUMS: cannot read the checksum file"):
        verify_checksum(p)
    (tmp_path / "SHA256SUMS").write_text("abc  x-idx1-ubyte\n")
    with pytest.raises(DataError, match=r"SHA256SUMS: line 1 is not '<64 hex digits>  <file name>'"):
        verify_checksum(p)
    (tmp_path / "SHA256SUMS").write_text(f"{sha256_file(p)}  x-idx1-ubyte\n")
    verify_checksum(p)  # the other side: the right checksum passes
    (tmp_path / "SHA256SUMS").write_text(f"{sha256_file(p)}  other-file\n")
    with pytest.raises(DataError, match="no checksum listed for x-idx1-ubyte"):
        verify_checksum(p)
    with pytest.raises(DataError, match="missing-file: cannot read for its checksum"):
        sha256_file(tmp_path / "missing-file")


def test_torchvision_raw_layout_with_its_checksums(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    imgs = np.random.default_rng(2).integers(0, 256, (3, 28, 28)).astype(np.uint8)
    write_idx(raw / "t10k-images-idx3-ubyte", imgs)
    write_idx(raw / "t10k-labels-idx1-ubyte", np.array([9, 0, 3], dtype=np.uint8))
    x, y = load_mnist(tmp_path / "FashionMNIST", "test")
    assert torch.equal(x[:, 0], torch.from_numpy(imgs)) and y.tolist() == [9, 0, 3]
    # a SHA256SUMS beside the files is verified
    (raw / "SHA256SUMS").write_text("".join(f"{sha256_file(raw / n)}  {n}\n"
                                            for n in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")))
    load_mnist(tmp_path / "FashionMNIST", "test")
    (raw / "SHA256SUMS").write_text((raw / "SHA256SUMS").read_text().replace("t10k-labels", "t10k-labelz"))
    with pytest.raises(DataError, match="no checksum listed for t10k-labels-idx1-ubyte"):
        load_mnist(tmp_path / "FashionMNIST", "test")
