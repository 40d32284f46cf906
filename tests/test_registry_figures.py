"""A version's figures (issue 40): each line draws its models' figures from its outputs, the same
bytes for the same outputs, leaving out (and saying once) what it has no input for; publish uploads
them under figures/ with their sha256 in metadata.json; one read back is checked like the model;
promote's integrity check covers them; a version published before figures reads as having none.

The drawing tests write each line's output files by hand (no pipeline); the registry tests
publish the session's fire run (`fire_project`) to the loopback S3 server.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from modelmill import lines
from modelmill.core import charts, s3
from modelmill.core.cli import UserError
from modelmill.registry.aliases import promote
from modelmill.registry.bucket import ensure_private_bucket
from modelmill.registry.figures import PNG_SIGNATURE, figure, figure_names
from modelmill.registry.integrity import check_version_objects, version_objects
from modelmill.registry.publish import publish
from modelmill.registry.store import Registry, figure_entries, get_json, published_files, version_files

PNG = PNG_SIGNATURE + b"a stage's own figure"  # copied as it is: never decoded

# Each line's output files, as its stages write them (their columns), at a few rows.
OUTPUTS: dict[str, dict[str, str | bytes]] = {
    "landcover": {
        "metrics/test_predictions.csv": "actual,predicted\nForest,Forest\nForest,River\nRiver,River\n",
        "metrics/train_history.csv": "epoch,input_size,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds\n"
        "1,32,2.0,0.3,2.1,0.5,0.005,2.7\n2,32,1.2,0.8,1.8,0.7,0.0004,4.5\n",
    },
    "fire": {
        "metrics/roc.csv": "fpr,forest,ensemble\n0,0,0\n0.5,0.8,0.85\n1,1,1\n",
        "metrics/pr.csv": "recall,forest,ensemble\n0,1,1\n0.5,0.7,0.75\n1,0.2,0.2\n",
        "metrics/calibration/forest.csv": "predicted,observed,rows\n0.05,0.04,100\n0.5,0.55,20\n",
        "metrics/calibration/ensemble.csv": "predicted,observed,rows\n0.05,0.05,100\n0.5,0.5,20\n",
    },
    "seaice": {
        "metrics/confusion.csv": "actual,predicted\nopen_water,open_water\nthin_ice,thick_ice\nthick_ice,thick_ice\n",
        "metrics/forecast_rmse.csv": "lead_day,model,persistence,climatology\n1,0.05,0.06,0.2\n2,0.07,0.09,0.2\n",
        "metrics/figures/forecast_000.png": PNG,
        "metrics/figures/change_000.png": PNG,
    },
    "biomass": {
        "metrics/eda/target_distribution.png": PNG,
        "metrics/predicted_vs_actual.png": PNG,
        "metrics/by_age.csv": "age_days,images,mean_g,rmse_g,mae_g,baseline_rmse_g\n"
        "0-7,4,0.1,0.05,0.04,0.2\n7-14,4,0.5,0.1,0.08,0.3\n",
        "metrics/train_history.csv": "epoch,train_loss,val_loss,val_rmse_g,lr,seconds\n"
        "1,1.0,1.1,0.3,0.01,1\n2,0.5,0.6,0.2,0.01,1\n",
    },
}
EXPECTED = {  # what each model publishes from those outputs
    ("landcover", ""): {"confusion_matrix.png", "training_curves.png"},
    ("fire", ""): {"roc.png", "precision_recall.png", "calibration.png"},
    ("seaice", "classifier"): {"confusion_matrix.png"},
    ("seaice", "forecaster"): {"rmse_by_lead.png", "forecast_000.png"},
    ("seaice", "change"): {"change_000.png"},
    ("biomass", ""): {"target_distribution.png", "predicted_vs_actual.png", "rmse_by_age.png", "training_curves.png"},
}
MODELS = [(line, model) for line in lines.LINES.values() for model in line.models]
IDS = [f"{line.name}-{model.key}" if model.key else line.name for line, model in MODELS]


def write_outputs(folder: Path, line: str) -> Path:
    for name, content in OUTPUTS[line].items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return folder


def test_every_model_has_its_expected_figures_listed():
    assert set(EXPECTED) == {(line.name, model.key) for line, model in MODELS}


@pytest.mark.parametrize(("line", "model"), MODELS, ids=IDS)
def test_the_same_outputs_give_the_same_png_bytes(line, model, tmp_path, capsys):
    folder = write_outputs(tmp_path / "a", line.name)
    first = model.artifact().figures(folder)
    assert set(first) == EXPECTED[(line.name, model.key)]
    assert all(data.startswith(PNG_SIGNATURE) for data in first.values())
    copy = write_outputs(tmp_path / "b", line.name)  # elsewhere, drawn again: byte for byte the same
    assert model.artifact().figures(copy) == first
    assert capsys.readouterr().err == ""  # nothing was missing
    for name, content in OUTPUTS[line.name].items():  # a stage's own PNG files go as they are
        if isinstance(content, bytes) and Path(name).name in first:
            assert first[Path(name).name] == content


def test_other_outputs_give_other_bytes(tmp_path):
    line = lines.get("landcover")
    folder = write_outputs(tmp_path, "landcover")
    before = line.model().artifact().figures(folder)
    (folder / "metrics/test_predictions.csv").write_text("actual,predicted\nForest,River\nRiver,River\n")
    after = line.model().artifact().figures(folder)
    assert after["confusion_matrix.png"] != before["confusion_matrix.png"]
    assert after["training_curves.png"] == before["training_curves.png"]


@pytest.mark.parametrize(("line", "model"), MODELS, ids=IDS)
def test_a_missing_input_leaves_that_figure_out_and_says_so_once(line, model, tmp_path, capsys):
    assert model.artifact().figures(tmp_path) == {}
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "published without the figures made from" in err[0], err
    for gone in OUTPUTS[line.name]:  # each input missing in turn: the rest still drawn
        folder = write_outputs(tmp_path / Path(gone).name, line.name)
        (folder / gone).unlink()
        made = model.artifact().figures(folder)
        err = capsys.readouterr().err.strip().splitlines()
        assert set(made) <= EXPECTED[(line.name, model.key)] and len(err) <= 1, (gone, err)
        # Said when something was left out (evaluate's panels may be none: params say how many).
        optional = "metrics/figures/" in gone
        assert bool(err) == (set(made) != EXPECTED[(line.name, model.key)]) or optional, (gone, err)


def test_charts_draw_from_columns_whatever_the_user_style(tmp_path):
    import matplotlib

    path = tmp_path / "curve.csv"
    path.write_text("x,a,b\n0,0,1\n1,1,\n")  # an empty cell is a gap
    columns = charts.read_columns(path)
    panel = charts.Panel({"a": (charts.numbers(columns["x"]), charts.numbers(columns["a"]))}, "x", "y")
    with charts._default_style():
        plain = charts.line_chart([panel])
    with matplotlib.rc_context({"lines.linewidth": 9, "axes.facecolor": "red"}), charts._default_style():
        assert charts.line_chart([panel]) == plain
    assert charts.confusion_matrix([], []).startswith(PNG_SIGNATURE)  # no rows: still a figure


# -- the registry: publish, read back, promote ------------------------------------------------


@pytest.fixture(scope="module")
def fire_published(fire_project, registry_env):
    """The session's fire run published as v1 of fire-ensemble, and its metadata.json."""
    line = lines.get("fire")
    reg = Registry.for_line(line, fire_project)
    client = s3.client(reg.region)
    ensure_private_bucket(client, reg)
    version = publish(reg, fire_project, line=line).version
    metadata = get_json(client, reg, reg.metadata_key(version))
    assert metadata is not None
    return reg, version, metadata


def test_publish_lists_each_figure_with_the_sha256_of_its_object(fire_published, fire_project):
    reg, version, metadata = fire_published
    assert set(metadata["figures"]) == EXPECTED[("fire", "")]
    for name, entry in metadata["figures"].items():
        data = figure(reg, version, name)
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["size_bytes"]
        assert f"figures/{name}" in metadata["s3_checksums"]
    redrawn = lines.get("fire").model().artifact().figures(fire_project / "pipelines/fire")
    assert {name: hashlib.sha256(data).hexdigest() for name, data in redrawn.items()} == {
        name: entry["sha256"] for name, entry in metadata["figures"].items()
    }
    # Promote covers them; a model folder (what download_version fills) needs none of them.
    assert {f"figures/{name}" for name in metadata["figures"]} <= set(version_objects(reg, version, metadata))
    assert not any(name.startswith("figures/") for name in version_files(metadata))
    check_version_objects(s3.client(reg.region), reg, version, metadata)


def test_an_altered_figure_is_refused_by_its_download_and_by_promote(fire_published, capsys):
    reg, version, metadata = fire_published
    client = s3.client(reg.region)
    key = reg.figure_key(version, "roc.png")
    original = client.get_object(Bucket=reg.bucket, Key=key)["Body"].read()
    client.put_object(Bucket=reg.bucket, Key=key, Body=original + b"\0", ChecksumAlgorithm="SHA256")
    try:
        with pytest.raises(UserError) as caught:
            figure(reg, version, "roc.png")
        message = str(caught.value)
        assert "\n" not in message and reg.uri(key) in message and "does not match metadata" in message
        with pytest.raises(UserError, match="overwritten after v1 was published") as refused:
            promote(client, reg, f"v{version}", "production")
        assert "\n" not in str(refused.value) and "figures/roc.png" in str(refused.value)
        # Rewritten without a checksum: promote downloads it, and refuses it all the same.
        client.put_object(Bucket=reg.bucket, Key=key, Body=original + b"\0")
        with pytest.raises(UserError, match="does not match metadata"):
            promote(client, reg, f"v{version}", "production")
    finally:
        client.put_object(Bucket=reg.bucket, Key=key, Body=original, ChecksumAlgorithm="SHA256")
    assert figure(reg, version, "roc.png") == original
    with pytest.raises(UserError, match="has no figure 'nope.png'; its figures: calibration.png"):
        figure(reg, version, "nope.png")


def test_a_version_without_figures_reads_as_having_none(fire_published, tmp_path):
    """What a version published before figures holds: metadata.json with no `figures` field."""
    reg, version, metadata = fire_published
    client = s3.client(reg.region)
    old = {k: v for k, v in metadata.items() if k != "figures"}
    old["s3_checksums"] = {k: v for k, v in old["s3_checksums"].items() if not k.startswith("figures/")}
    assert figure_entries(old) == {} and figure_names(old) == []
    assert published_files(old) == version_files(old)
    assert figure_entries({**old, "figures": None}) == {} and figure_entries({**old, "figures": ["x"]}) == {}
    # Such a version in the bucket (its figures never uploaded): the download says it has none,
    # and promote checks the objects it lists, and nothing else.
    new = version + 1
    for name in version_files(old):  # the model, its companions, its baseline
        client.copy_object(
            Bucket=reg.bucket, Key=reg.key(new, name), CopySource={"Bucket": reg.bucket, "Key": reg.key(version, name)}
        )
    old |= {"version": f"v{new}", "artifact_key": reg.model_key(new)}
    old.pop("s3_checksums")  # as versions published before promote checked S3 checksums
    client.put_object(Bucket=reg.bucket, Key=reg.metadata_key(new), Body=json.dumps(old).encode())
    with pytest.raises(UserError, match=r"has no figure 'roc.png'; its figures: none \(published before"):
        figure(reg, new, "roc.png")
    move = promote(client, reg, f"v{new}", "old-version")
    assert move.changed and move.record["version"] == new
