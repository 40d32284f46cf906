import io
import json
import struct
import zipfile
import zlib

import numpy as np
import pytest
from conftest import REAL_EUROSAT
from PIL import Image

from modelmill.core.cli import UserError
from modelmill.landcover.data import CLASSES, SPLITS
from modelmill.landcover.ingest import ingest
from modelmill.landcover.synthetic import synthetic_image
from modelmill.landcover.verify import channel_stats, stratified_split, verify


def jpeg(class_index: int, seed: int, size: int = 64, mode: str = "RGB") -> bytes:
    pixels = synthetic_image(class_index, np.random.default_rng(seed))
    img = Image.fromarray(pixels).convert(mode).resize((size, size))
    buf = io.BytesIO()
    img.save(buf, format="JPEG" if mode != "RGBA" else "PNG")
    return buf.getvalue()


def write_zip(path, members: dict[str, bytes], dirs=()):
    with zipfile.ZipFile(path, "w") as archive:
        for d in dirs:
            archive.writestr(d, b"")
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def eurosat_like(per_class: int = 10) -> dict[str, bytes]:
    return {
        f"2750/{c}/{c}_{n}.jpg": jpeg(k, 1000 * k + n) for k, c in enumerate(CLASSES) for n in range(1, per_class + 1)
    }


def run(make_params, tmp_path, archive, **overrides):
    cfg = make_params(**overrides).data
    return verify(cfg, archive, tmp_path / "prepared", tmp_path / "data.json")


def test_synthetic_archive_splits_and_reports(make_params, synthetic_zip, tmp_path):
    report = run(
        make_params, tmp_path, synthetic_zip, data__split__train=0.6, data__split__val=0.2, data__split__test=0.2
    )
    assert report["images"] == 300
    assert report["per_class"] == {c: 30 for c in CLASSES}
    assert [report["splits"][s]["images"] for s in SPLITS] == [180, 60, 60]
    assert all(n == 18 for n in report["splits"]["train"]["per_class"].values())
    assert json.loads((tmp_path / "data.json").read_text()) == report
    meta = json.loads((tmp_path / "prepared" / "meta.json").read_text())
    assert meta["classes"] == list(CLASSES)
    assert all(0 < m < 1 for m in meta["mean"]) and all(0 < s < 1 for s in meta["std"])
    seen = {}
    for split in SPLITS:
        with np.load(tmp_path / "prepared" / f"{split}.npz") as data:
            assert data["x"].dtype == np.uint8 and data["x"].shape[1:] == (64, 64, 3)
            for name in data["names"]:
                assert name not in seen, f"{name} is in {seen.get(name)} and {split}"
                seen[name] = split
    assert len(seen) == 300


def test_split_is_deterministic_and_depends_on_seed(make_params, synthetic_zip, tmp_path):
    names = []
    for seed in (1, 1, 2):
        out = tmp_path / f"s{len(names)}"
        verify(make_params(data__seed=seed).data, synthetic_zip, out, out / "data.json")
        with np.load(out / "test.npz") as data:
            names.append(list(data["names"]))
    assert names[0] == names[1]
    assert names[0] != names[2]


def test_duplicates_stay_in_one_split():
    labels = np.repeat(np.arange(2), 50)
    hashes = [f"h{i}" for i in range(100)]
    hashes[1] = hashes[2] = hashes[3] = "dup"  # three copies of one image in class 0
    for seed in range(20):
        split = stratified_split(labels, hashes, 0.6, 0.2, 0.2, seed)
        assert len({split[1], split[2], split[3]}) == 1
        assert (split >= 0).all()


def test_duplicates_are_reported(make_params, tmp_path):
    members = eurosat_like(6)
    members["2750/Forest/Forest_7.jpg"] = members["2750/Forest/Forest_1.jpg"]
    report = run(make_params, tmp_path, write_zip(tmp_path / "a.zip", members))
    assert report["duplicates"] == [["2750/Forest/Forest_1.jpg", "2750/Forest/Forest_7.jpg"]]


def test_corrupt_jpeg_fails_by_default_naming_it(make_params, tmp_path):
    members = eurosat_like(5)
    members["2750/River/River_3.jpg"] = members["2750/River/River_3.jpg"][:200]
    archive = write_zip(tmp_path / "a.zip", members)
    with pytest.raises(UserError) as err:
        run(make_params, tmp_path, archive)
    assert "2750/River/River_3.jpg" in str(err.value) and "data.on_corrupt: drop" in str(err.value)
    assert not (tmp_path / "prepared").exists()


def test_corrupt_jpeg_dropped_when_asked(make_params, tmp_path):
    members = eurosat_like(6)
    members["2750/River/River_3.jpg"] = b"not a jpeg at all"
    members["2750/Pasture/notes.txt"] = b"field notes"
    report = run(make_params, tmp_path, write_zip(tmp_path / "a.zip", members), data__on_corrupt="drop")
    assert report["images"] == 59  # 60 images + notes.txt - the two unusable files
    assert report["per_class"]["River"] == 5
    assert report["dropped"] == ["2750/Pasture/notes.txt: not an image", "2750/River/River_3.jpg: not an image"]


def test_channel_stats_match_a_float_computation():
    images = np.random.default_rng(0).integers(0, 256, (300, 8, 8, 3), dtype=np.uint8)
    mean, std = channel_stats(images, chunk=64)
    as_float = images.reshape(-1, 3).astype(np.float64) / 255
    assert mean == pytest.approx(as_float.mean(0).tolist(), abs=1e-6)
    assert std == pytest.approx(as_float.std(0).tolist(), abs=1e-6)


def test_wrong_size_and_mode_are_named(make_params, tmp_path):
    members = eurosat_like(3)
    members["2750/Highway/Highway_1.jpg"] = jpeg(3, 1, size=32)
    members["2750/Highway/Highway_2.jpg"] = jpeg(3, 2, mode="L")
    with pytest.raises(UserError) as err:
        run(make_params, tmp_path, write_zip(tmp_path / "a.zip", members))
    assert "Highway_1.jpg: 32x32 RGB, expected 64x64 RGB" in str(err.value)
    assert "Highway_2.jpg: 64x64 L" in str(err.value)


def forged_png(width: int, height: int) -> bytes:
    """A PNG whose header declares `width` x `height` (its checksum right): what a decompression bomb looks like."""
    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    data[16:24] = struct.pack(">II", width, height)  # IHDR's width and height
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


@pytest.mark.parametrize("declared", [20000, 10000])  # PIL refuses the first and warns of the second
def test_a_header_declaring_gigapixels_is_named_not_decoded(make_params, tmp_path, capfd, declared):
    members = eurosat_like(10)
    members["2750/River/River_bomb.png"] = forged_png(declared, declared)
    archive = write_zip(tmp_path / "a.zip", members)
    with pytest.raises(UserError, match="River_bomb.png: declares over .* pixels, expected 64x64 RGB"):
        run(make_params, tmp_path, archive)
    report = run(make_params, tmp_path, archive, data__on_corrupt="drop")
    assert report["images"] == 100 and report["dropped"][0].startswith("2750/River/River_bomb.png: declares over")
    assert "DecompressionBombWarning" not in capfd.readouterr().err


def test_too_few_images_for_a_split_stop_verify(make_params, tmp_path):
    """3 images a class at val 0.1: no class gives val an image. verify says so, before train would."""
    with pytest.raises(UserError) as err:
        run(make_params, tmp_path, write_zip(tmp_path / "a.zip", eurosat_like(3)))
    assert str(err.value) == (
        "the val split would hold no images (data.split.val 0.1 of the largest class's 3 distinct images rounds "
        "to 0; a class needs 6 or more to give it one); use more images or a larger data.split.val"
    )
    assert not (tmp_path / "prepared").exists()


def test_no_class_folders(make_params, tmp_path):
    archive = write_zip(tmp_path / "a.zip", {"img1.jpg": jpeg(0, 1), "img2.jpg": jpeg(1, 2)})
    with pytest.raises(UserError, match="has no class folders"):
        run(make_params, tmp_path, archive)


def test_missing_and_unexpected_classes(make_params, tmp_path):
    members = {k: v for k, v in eurosat_like(2).items() if "/SeaLake/" not in k}
    members["2750/Glacier/Glacier_1.jpg"] = jpeg(0, 9)
    with pytest.raises(UserError) as err:
        run(make_params, tmp_path, write_zip(tmp_path / "a.zip", members))
    assert "missing: SeaLake" in str(err.value) and "unexpected: Glacier" in str(err.value)


def test_empty_class(make_params, tmp_path):
    members = {k: v for k, v in eurosat_like(2).items() if "/SeaLake/" not in k}
    archive = write_zip(tmp_path / "a.zip", members, dirs=["2750/", "2750/SeaLake/"])
    with pytest.raises(UserError, match="class folder\\(s\\) with no images: SeaLake"):
        run(make_params, tmp_path, archive)


def test_truncated_archive(make_params, synthetic_zip, tmp_path):
    truncated = tmp_path / "t.zip"
    truncated.write_bytes(synthetic_zip.read_bytes()[: synthetic_zip.stat().st_size // 2])
    with pytest.raises(UserError, match="is not a readable zip archive"):
        run(make_params, tmp_path, truncated)


def test_missing_archive(make_params, tmp_path):
    with pytest.raises(UserError, match="run the ingest stage first"):
        run(make_params, tmp_path, tmp_path / "nope.zip")


@pytest.mark.realdata
@pytest.mark.e2e  # decodes all 27,000 real images: the cost of a pipeline stage, not of the edit loop
@pytest.mark.skipif(not REAL_EUROSAT.exists(), reason="the real EuroSAT archive is not in ../shared/data")
def test_real_eurosat_passes_ingest_and_verify(make_params, tmp_path):
    cfg = make_params(
        data__source="archive",
        data__archive=str(REAL_EUROSAT),
        data__sha256="fa1beb42ece1e535ed501943e1416a584c9c078993ba28805ba4736aaef34904",
    ).data
    raw = tmp_path / "raw" / "eurosat.zip"
    ingest(cfg, raw)
    report = verify(cfg, raw, tmp_path / "prepared", tmp_path / "data.json")
    assert report["images"] == 27000
    assert report["per_class"] == {
        "AnnualCrop": 3000,
        "Forest": 3000,
        "HerbaceousVegetation": 3000,
        "Highway": 2500,
        "Industrial": 2500,
        "Pasture": 2000,
        "PermanentCrop": 2500,
        "Residential": 3000,
        "River": 2500,
        "SeaLake": 3000,
    }
    assert [report["splits"][s]["images"] for s in SPLITS] == [21600, 2700, 2700]
    assert report["dropped"] == []
