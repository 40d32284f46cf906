"""What clients send and ask for, without a server: Accept negotiation, CSV answers, the fire
model's JSON shapes (its own and MLflow's), and the worker and port settings from the environment.
Over HTTP, against real servers, the same is exercised in test_serve.py."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, assert_one_line_error, run_module

from modelmill.core.cli import UserError
from modelmill.fire.features import FEATURES
from modelmill.fire.json_rows import rows_from_json
from modelmill.serve.__main__ import default_port, worker_count
from modelmill.serve.answers import CSV, JSON, answer_types, encode, negotiate
from modelmill.serve.workers import cores

ROWS = [[float(i * 18 + j) for j in range(len(FEATURES))] for i in range(3)]


@pytest.mark.parametrize(
    "accept, offered, chosen",
    [
        ("", (JSON, CSV), JSON),
        ("*/*", (JSON, CSV), JSON),
        ("text/csv", (JSON, CSV), CSV),
        ("text/*", (JSON, CSV), CSV),
        ("application/json, text/csv", (JSON, CSV), JSON),
        ("text/csv;q=0.5, application/json;q=0.9", (JSON, CSV), JSON),
        ("application/json;q=0.1, text/csv", (JSON, CSV), CSV),
        ("TEXT/CSV", (JSON, CSV), CSV),
        ("image/png, */*;q=0.1", (JSON,), JSON),
        ("text/csv", (JSON,), None),
        ("application/json;q=0", (JSON, CSV), None),
        ("application/xml", (JSON, CSV), None),
    ],
)
def test_accept_picks_the_preferred_answer_the_model_can_give(accept, offered, chosen):
    assert negotiate(accept, offered) == chosen


def test_only_a_tabular_model_answers_in_csv():
    assert answer_types({"text/csv": "", "application/json": ""}) == (JSON, CSV)
    assert answer_types({"image/jpeg": "", "application/x-npy": ""}) == (JSON,)


def test_csv_answers_are_one_line_per_row_in_the_json_fields_order():
    predictions = [{"fire_probability": 0.25, "fire": False}, {"fire_probability": 0.75, "fire": True}]
    assert json.loads(encode(predictions, JSON)) == {"predictions": predictions}
    lines = list(csv.reader(io.StringIO(encode(predictions, CSV).decode())))
    assert lines == [["0.25", "0"], ["0.75", "1"]]
    nested = [{"class": "Forest", "probabilities": {"Forest": 0.9, "River": 0.1}}]
    assert encode(nested, CSV).decode() == "Forest,0.9,0.1\n"


def mlflow_bodies() -> dict[str, dict]:
    records = [dict(zip(FEATURES, row)) for row in ROWS]
    return {
        "dataframe_split": {"dataframe_split": {"columns": list(FEATURES), "data": ROWS}},
        "dataframe_split, columns shuffled": {
            "dataframe_split": {"columns": list(FEATURES[::-1]), "data": [row[::-1] for row in ROWS]}
        },
        "dataframe_split, no columns": {"dataframe_split": {"data": ROWS}},
        "dataframe_records": {"dataframe_records": records},
        "instances as lists": {"instances": ROWS},
        "instances as objects": {"instances": records},
        "inputs as rows": {"inputs": ROWS},
        "inputs as columns": {"inputs": {name: [row[i] for row in ROWS] for i, name in enumerate(FEATURES)}},
        "with params": {"dataframe_records": records, "params": {}},
    }


@pytest.mark.parametrize("form", list(mlflow_bodies()))
def test_every_mlflow_request_form_gives_the_same_rows(form):
    assert rows_from_json(json.dumps(mlflow_bodies()[form])) == ROWS


def test_this_servers_own_json_forms_still_read():
    records = [dict(zip(FEATURES, row)) for row in ROWS]
    assert rows_from_json(json.dumps(records)) == ROWS
    assert rows_from_json(json.dumps(ROWS)) == ROWS
    assert rows_from_json(json.dumps(records[0])) == ROWS[:1]
    assert rows_from_json(json.dumps(ROWS[0])) == ROWS[:1]


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"instances": ROWS, "inputs": ROWS}, "exactly one of dataframe_split"),
        ({"instances": ROWS, "extra": 1}, "this one has 'instances', 'extra'"),
        ({"instances": "x"}, "instances must be a list of rows, got str"),
        ({"dataframe_split": {"columns": list(FEATURES)}}, 'dataframe_split must be an object with "data"'),
        ({"dataframe_split": {"columns": "t_max_c", "data": ROWS}}, "columns must be a list of names"),
        ({"dataframe_split": {"columns": list(FEATURES)[:2], "data": ROWS}}, "row 1 does not have one value per"),
        ({"dataframe_split": {"columns": ["heat", *FEATURES[1:]], "data": ROWS}}, "unknown key(s) 'heat'"),
        ({"inputs": {"t_max_c": [1, 2], "t_mean_c": [1]}}, "all of one length"),
        ({"dataframe_records": [{"t_max_c": 1}]}, "row 1: missing key(s) t_mean_c"),
        ({"instances": [[1, 2]]}, "row 1 has 2 values; expected 18"),
        ({"instances": [[None] * 18]}, "row 1, t_max_c: null is not a finite number"),
        ("text", "MLflow's {dataframe_split|dataframe_records|instances|inputs: ...}"),
    ],
)
def test_a_malformed_request_is_one_line_naming_the_problem(body, fragment):
    with pytest.raises(ValueError) as caught:
        rows_from_json(json.dumps(body))
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def repeat_key(body: str, key: str, value: float) -> str:
    """`body` with `key` given a second time (json.dumps can't write that) in the object where it first is."""
    start = body.rindex("{", 0, body.index(f'"{key}": ')) + 1
    return f'{body[:start]}"{key}": {value}, {body[start:]}'


def test_a_repeated_column_or_key_is_refused_naming_it():
    """Issue 38: a name given twice was scored with one of its values (the last), silently."""
    columns = [*FEATURES[:-1], "co2_ppm"]
    assert "co2_ppm" in FEATURES[:-1]
    split = {"dataframe_split": {"columns": columns, "data": ROWS}}
    with pytest.raises(ValueError) as caught:
        rows_from_json(json.dumps(split))
    assert str(caught.value) == "dataframe_split.columns: repeated column(s) co2_ppm; name each column once"
    records = [dict(zip(FEATURES, row)) for row in ROWS]
    for body in (
        {"dataframe_records": records},
        {"instances": records},
        {"inputs": records},
        {"inputs": {name: [row[i] for row in ROWS] for i, name in enumerate(FEATURES)}},
        records[0],
    ):
        text = repeat_key(json.dumps(body), "co2_ppm", 9999)
        assert text.count('"co2_ppm"') == json.dumps(body).count('"co2_ppm"') + 1
        with pytest.raises(ValueError) as caught:
            rows_from_json(text)
        assert str(caught.value) == "repeated key(s) 'co2_ppm' in one JSON object of the body; give each key once"
    with pytest.raises(ValueError, match="repeated key\\(s\\) 'instances'"):
        rows_from_json('{"instances": [], "instances": []}')


def test_workers_and_port_come_from_the_environment_as_sagemaker_sets_them():
    assert worker_count({}) == cores()
    assert worker_count({"WORKERS": "3"}) == 3
    assert worker_count({"SAGEMAKER_MODEL_SERVER_WORKERS": "4"}) == 4
    assert worker_count({"WORKERS": "2", "SAGEMAKER_MODEL_SERVER_WORKERS": "4"}) == 2
    for bad in ("0", "two", "-1", "1.5"):
        with pytest.raises(UserError, match=f"WORKERS must be a whole number >= 1, got '{bad}'"):
            worker_count({"WORKERS": bad})
    assert default_port({}) == 8080
    assert default_port({"PORT": "9000"}) == 9000
    assert default_port({"SAGEMAKER_BIND_TO_PORT": "7070", "PORT": "9000"}) == 7070
    with pytest.raises(UserError, match="port must be a number"):
        default_port({"PORT": "http"})


def test_follow_takes_an_interval_and_an_alias_of_a_registry_model():
    from pathlib import Path

    from modelmill import lines
    from modelmill.registry.store import Registry
    from modelmill.serve.follow import parse_interval, plan
    from modelmill.serve.loading import Located

    assert [parse_interval(t) for t in ("30s", "2m", "500ms", "45", "0.5")] == [30, 120, 0.5, 45, 0.5]
    for bad in ("0", "soon", "-1s", "1h", ""):
        with pytest.raises(UserError, match="FOLLOW must be an interval such as 30s, 2m or 500ms"):
            parse_interval(bad)
    fire = lines.get("fire")
    reg = Registry.for_line(fire, env={})
    published = Located(Path("m.skops"), {}, fire, fire.model(), "s3://…", reg)
    assert plan(published, "production", 30).registry == reg
    assert plan(published, "latest", 30).target == "latest"
    with pytest.raises(UserError, match="a version never changes; follow an alias"):
        plan(published, "v3", 30)
    workspace = Located(Path("m.skops"), {}, fire, fire.model(), "pipelines/fire/models/m.skops (workspace)")
    with pytest.raises(UserError, match="FOLLOW needs a model from the registry; pipelines/fire"):
        plan(workspace, "production", 30)


def test_capture_settings_are_checked():
    from modelmill.serve.watch import parse_rate

    assert [parse_rate(t) for t in ("0", "0.1", "1", "1.0")] == [0.0, 0.1, 1.0, 1.0]
    for bad in ("1.5", "-0.1", "most", ""):
        with pytest.raises(UserError, match="CAPTURE_RATE must be a share between 0 and 1"):
            parse_rate(bad)


SETTINGS = {  # make serve's settings, each bad, with what its one line says
    ("CAPTURE_RATE=2",): "CAPTURE_RATE must be a share between 0 and 1, e.g. 0.1, got '2'",
    ("FOLLOW=30s", "VERSION=v3"): "FOLLOW with VERSION=v3: a version never changes",
    ("WORKERS=0",): "--workers must be a whole number >= 1, got '0'",
    ("PORT=70000",): "port must be a number 0..65535, got '70000'",
    ("SOURCE=nowhere",): "argument --source: invalid choice: 'nowhere' (choose from 'registry', 'local')",
}


def test_every_serve_setting_is_checked_at_start_up_whether_its_feature_is_on_or_not():
    """Issue 38: `make serve … CAPTURE_RATE=2` without CAPTURE= started and ignored the value.
    Each bad setting is one line before the model is looked for (MODEL names the fire line's
    model; no bucket is reachable here, so getting as far as the registry would fail otherwise)."""
    venv = Path(sys.executable).parent.parent
    env = {"PATH": "/usr/bin:/bin", "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "HOME": str(REPO)}
    runs = {
        settings: subprocess.Popen(
            ["make", "serve", "MODEL=fire-ensemble", *settings, f"VENV={venv}"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for settings in SETTINGS
    }
    for settings, proc in runs.items():
        out, err = proc.communicate(timeout=120)
        result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        assert_one_line_error(result, SETTINGS[settings])
        assert not [line for line in err.splitlines() if line.startswith(("usage:", "serve:"))], err


@pytest.mark.parametrize(
    "input_, output, message",
    [
        ("rows.csv", "rows.csv", "--output rows.csv is the input; write the predictions to another file"),
        ("./rows.csv", "rows.csv", "--output rows.csv is the input"),
        ("tiles", "tiles/predictions.csv", "--output tiles/predictions.csv is inside the input folder tiles"),
        ("rows.csv", "out", "--output 'out' is a folder; name the CSV file to write"),
        ("rows.csv", "", "--output is empty; name the CSV file to write"),
        (".", "predictions.csv", "--output predictions.csv is inside the input folder ."),  # "." is a folder, not empty
        ("", "predictions.csv", "--input is empty; name a folder of images or a CSV"),
    ],
)
def test_predict_never_writes_over_its_input(tmp_path, input_, output, message):
    """Checked before any model is fetched (none exists here): the user's rows are never replaced."""
    (tmp_path / "rows.csv").write_text("the user's rows\n")
    (tmp_path / "tiles").mkdir()
    (tmp_path / "out").mkdir()
    args = ("--model", "fire-ensemble", f"--input={input_}", f"--output={output}")
    assert_one_line_error(run_module("modelmill.serve.predict", tmp_path, args=args), message)
    assert (tmp_path / "rows.csv").read_text() == "the user's rows\n"
    assert not (tmp_path / "tiles/predictions.csv").exists()


@pytest.mark.parametrize(
    "module, args", [("modelmill.serve", ("--model", "fire-ensemble", "--workers", "1")), ("modelmill.ui", ())]
)
def test_a_busy_port_is_one_line_before_any_model_or_registry_is_read(tmp_path, module, args):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_module(module, tmp_path, args=(*args, "--port", str(port)), timeout=60)
    assert_one_line_error(result, f"cannot listen on 127.0.0.1:{port} (Address already in use); pass another --port")


@pytest.mark.parametrize("rows", ["abc", "0", "-3", "²"])
def test_replay_rows_must_be_a_count(rows):
    result = run_module("modelmill.serve.replay", REPO, args=("--model", "fire-ensemble", f"--rows={rows}"))
    assert_one_line_error(result, f"--rows must be a whole number, at least 1, got {rows!r}")


def test_ui_capture_must_be_in_s3_and_says_where_local_reports_come_from():
    from modelmill.ui.__main__ import parse_args

    with pytest.raises(
        UserError, match="--capture must be an s3:// URI, got 'capture'; the reports make monitor files"
    ):
        parse_args(["--capture", "capture"])
