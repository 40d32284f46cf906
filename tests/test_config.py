import pytest
import yaml
from conftest import REPO, assert_one_line_error, run_module, write_params

from modelmill.core.cli import UserError
from modelmill.landcover.params import load_params


def test_repo_params_are_valid():
    params = load_params(REPO / "params.yaml")
    assert params.data.split.train + params.data.split.val + params.data.split.test == pytest.approx(1.0)
    assert params.train.arch == "resnet18"


def test_yaml_syntax_error_names_line_and_column(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("data:\n  source: synthetic\n  split: [0.6, 0.2\ntrain: {}\n")
    with pytest.raises(UserError) as err:
        load_params(path)
    assert f"{path}:4:" in str(err.value) or f"{path}:3:" in str(err.value)
    assert "invalid YAML" in str(err.value)


def test_unknown_key_suggests_the_closest(make_params, tmp_path):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["train"]["epoch"] = raw["train"].pop("epochs")
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(UserError) as err:
        load_params(path)
    assert "unknown key train.epoch (did you mean train.epochs?)" in str(err.value)
    assert "train.epochs is missing" in str(err.value)


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("train.epochs", 0, "train.epochs must be >= 1, got 0"),
        ("train.epochs", -3, "train.epochs must be >= 1, got -3"),
        ("train.epochs", "ten", "train.epochs must be an integer, got str 'ten'"),
        ("train.epochs", True, "train.epochs must be an integer"),
        ("train.lr", 0, "train.lr must be > 0, got 0.0"),
        ("train.lr", -0.1, "train.lr must be > 0"),
        ("train.batch_size", 0, "train.batch_size must be >= 1, got 0"),
        (
            "train.arch",
            "resnet19",
            "train.arch must be one of resnet18, resnet34; got 'resnet19' (did you mean resnet18?)",
        ),
        ("train.optimizer", "adam", "train.optimizer must be one of sgd, adamw; got 'adam'"),
        ("train.pretrained", "yes", "train.pretrained must be one of imagenet, none"),
        ("data.source", "kaggle", "data.source must be one of eurosat, archive, synthetic"),
        ("data.split.val", -0.1, "data.split.val must be > 0, got -0.1"),
        ("data.split.val", 0, "data.split.val must be > 0, got 0.0"),  # train picks its epoch on val
        ("data.split.train", 0.9, "data.split fractions sum to 1.1, above 1"),
        ("data.split", [0.6, 0.2, 0.2], "data.split must be a mapping of keys, got a list"),
        ("train.augment", "yes", "train.augment must be true or false"),
        ("train.translate", 20, "train.translate must be <= 16, got 20"),
    ],
)
def test_bad_values_are_named(make_params, key, value, message):
    with pytest.raises(UserError) as err:
        make_params(**{key.replace(".", "__"): value})
    assert message in str(err.value)


def test_every_problem_is_reported_at_once(make_params):
    with pytest.raises(UserError) as err:
        make_params(train__epochs=0, train__lr=-1, data__source="nope")
    text = str(err.value)
    assert "train.epochs" in text and "train.lr" in text and "data.source" in text
    assert "\n" not in text


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_params(tmp_path / "nope.yaml")


def test_stage_cli_reports_bad_params_in_one_line(tmp_path):
    write_params(tmp_path / "params.yaml", {"train.lr": -1})
    result = run_module("modelmill.landcover.train", tmp_path)
    assert_one_line_error(result, "train.lr must be > 0")


@pytest.mark.parametrize("line", ["landcover", "fire", "seaice", "biomass"])
def test_every_kind_of_bad_param_in_every_section_is_one_clear_error(line, tmp_path):
    """What each line's params stage (its first, which every other stage waits on) says for an
    out-of-range value, a wrong type and an unknown key in each section; the pipeline tests show
    that such an error leaves every output as it was."""
    import importlib

    from conftest import bad_param_errors

    load = importlib.import_module(f"modelmill.{line}.params").load_params
    folder = REPO if line == "landcover" else REPO / "pipelines" / line
    errors = bad_param_errors(load, folder / "params.yaml", tmp_path)
    assert len(errors) >= 9
    assert all("\n" not in error for error in errors)


def test_the_params_stage_skips_only_machine_requests_that_always_resolve():
    """check_machine_request leaves torch unimported for auto, cpu and fp32: every such request resolves here."""
    from modelmill.core.config import check_machine_request
    from modelmill.core.hardware import check_placement

    for device in ("auto", "cpu"):
        for precision in ("auto", "fp32"):
            for processes, sync in ((1, False), (2, False), (1, True)):
                check_machine_request(device, precision, processes, sync)
                assert check_placement(device, precision, processes, sync).precision in ("fp32", "bf16")
