"""Serving published models: real servers (subprocesses on free loopback ports) loading from the
loopback S3 registry, checked against the lines' own evaluate and the batch predict command."""

from __future__ import annotations

import csv
import http.client
import io
import json
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error, copy_project, edit_yaml, free_port, run_module
from PIL import Image
from serving import HTTP, Server, call, invoke

from modelmill import lines
from modelmill.core import s3
from modelmill.fire.features import FEATURES, read_split
from modelmill.fire.models import load_model, predict_fire
from modelmill.registry.aliases import promote
from modelmill.registry.bucket import ensure_private_bucket
from modelmill.registry.fetch import download_version
from modelmill.registry.publish import publish
from modelmill.registry.store import Registry
from modelmill.serve import loading

pytestmark = pytest.mark.e2e  # every test here talks to a real server subprocess

LANDCOVER, FIRE = lines.get("landcover"), lines.get("fire")


# --- helpers ------------------------------------------------------------------------------


def png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


def assert_close(got: list[float], expected) -> None:
    """p(fire) as the line's evaluate computes it: served by ONNX Runtime in float32, within the
    1e-5 the ensemble stage checks its export to (the decisions are compared exactly)."""
    assert np.allclose(got, expected, rtol=0, atol=1e-5)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def eurosat(trained_project, registry_env):
    """The synthetic EuroSAT model, published as eurosat-resnet18 v1."""
    reg = Registry.for_line(LANDCOVER, trained_project)
    ensure_private_bucket(s3.client(reg.region), reg)
    assert publish(reg, trained_project, line=LANDCOVER).version == 1
    return trained_project


@pytest.fixture(scope="module")
def fire(fire_project, registry_env):
    """The session's small fire run, published as fire-ensemble v1."""
    reg = Registry.for_line(FIRE, fire_project)
    ensure_private_bucket(s3.client(reg.region), reg)
    assert publish(reg, fire_project, line=FIRE).version == 1
    return fire_project


@pytest.fixture(scope="module")
def eurosat_server(eurosat):
    server = Server(
        eurosat,
        (
            "--model",
            "eurosat-resnet18",
            "--version",
            "v1",
            "--max-body-mb",
            "1",
            "--model-dir",
            str(eurosat / "no-model-dir"),
            "--workers",
            "1",
        ),
    )
    yield server
    assert server.stop() == 0, server.output()


@pytest.fixture(scope="module")
def fire_server(fire):
    """Two worker processes: every fire request below goes through the multi-process server."""
    server = Server(
        fire, ("--model", "fire-ensemble", "--max-body-mb", "1", "--model-dir", str(fire / "none"), "--workers", "2")
    )
    yield server
    assert server.stop() == 0, server.output()


@pytest.fixture(scope="module")
def fire_expected(fire):
    """What the fire line's evaluate computes for its test rows: p(fire), and the decisions at the threshold."""
    folder = fire / FIRE.folder
    test = read_split(folder / "data" / "split", "test")
    ensemble = load_model(folder / "models" / "fire_ensemble.skops")
    return test, predict_fire(ensemble, test.x), ensemble.predict(test.x) == 1


# --- EuroSAT ------------------------------------------------------------------------------


def test_eurosat_server_answers_as_evaluate_and_the_predict_command(eurosat, eurosat_server, tmp_path):
    from modelmill.landcover.data import load_tensors

    x, _ = load_tensors(eurosat / "data" / "prepared", "test")
    tiles = x.numpy()
    evaluated = [row["predicted"] for row in read_csv(eurosat / "metrics" / "test_predictions.csv")]

    batch = invoke(eurosat_server.url, npy(tiles), "application/x-npy")
    assert [p["class"] for p in batch] == evaluated  # evaluate's own batch, evaluate's own answers
    for p in batch:
        assert set(p["probabilities"]) == set(json.loads((eurosat / "models" / "model.json").read_text())["classes"])
        assert abs(sum(p["probabilities"].values()) - 1) < 1e-4
        assert p["class"] == max(p["probabilities"], key=p["probabilities"].get)

    folder = tmp_path / "tiles"
    folder.mkdir()
    for i, tile in enumerate(tiles):
        (folder / f"tile{i:02d}.png").write_bytes(png(tile))
        one = invoke(eurosat_server.url, png(tile), "image/png")
        assert len(one) == 1 and one[0]["class"] == batch[i]["class"]
        assert all(abs(one[0]["probabilities"][c] - v) < 2e-3 for c, v in batch[i]["probabilities"].items())
    jpeg = io.BytesIO()
    Image.fromarray(tiles[0]).save(jpeg, format="JPEG", quality=95)
    assert invoke(eurosat_server.url, jpeg.getvalue(), "image/jpeg")[0]["class"] in batch[0]["probabilities"]

    out = tmp_path / "predictions.csv"
    result = run_module(
        "modelmill.serve.predict",
        eurosat,
        args=(
            "--model",
            "eurosat-resnet18",
            "--input",
            str(folder),
            "--output",
            str(out),
            "--model-dir",
            str(tmp_path),
        ),
    )
    assert result.returncode == 0, result.stderr
    rows = read_csv(out)
    assert [row["file"] for row in rows] == [f"tile{i:02d}.png" for i in range(len(tiles))]
    assert [row["class"] for row in rows] == evaluated
    for row, p in zip(rows, batch):  # the same batch through the same code: the same numbers
        assert all(abs(float(row[f"probabilities.{c}"]) - v) < 1e-6 for c, v in p["probabilities"].items())


def test_eurosat_bad_inputs_get_their_status_and_never_break_the_server(eurosat, eurosat_server):
    from modelmill.landcover.data import load_tensors

    tile = load_tensors(eurosat / "data" / "prepared", "test")[0][0].numpy()
    before = invoke(eurosat_server.url, png(tile), "image/png")
    rgb = np.zeros((64, 64, 3), np.uint8)
    bad = [
        (b"\xff\xd8 this is no jpeg", "image/jpeg", 400, "not a decodable JPEG image"),
        (png(tile)[:200], "image/png", 400, "not a decodable PNG image"),
        (png(np.zeros((32, 32, 3), np.uint8)), "image/png", 400, "image is 32x32; expected a 64x64"),
        (png(np.zeros((64, 64), np.uint8)), "image/png", 400, "1 channel (mode L); expected 3"),
        (png(np.zeros((64, 64, 4), np.uint8)), "image/png", 400, "4 channels (mode RGBA)"),
        (png(rgb), "image/jpeg", 400, "not a decodable JPEG"),
        (npy(rgb[None].astype(np.float32)), "application/x-npy", 400, "dtype float32; expected uint8"),
        (npy(np.zeros((2, 32, 32, 3), np.uint8)), "application/x-npy", 400, "shape (2, 32, 32, 3)"),
        (npy(np.zeros((0, 64, 64, 3), np.uint8)), "application/x-npy", 400, "no tiles"),
        (b"not numpy", "application/x-npy", 400, "not a .npy array"),
        (b"", "image/png", 400, "empty body"),
        (png(rgb), "text/csv", 415, "content type text/csv is not accepted"),
        (png(rgb), "application/octet-stream", 415, "image/jpeg, image/png, application/x-npy"),
        (npy(np.zeros((100, 64, 64, 3), np.uint8)), "application/x-npy", 413, "over the 1 MB limit"),
    ]
    for body, content_type, status, fragment in bad:
        got, answer = call(eurosat_server.url, "/invocations", body, content_type)
        assert got == status, (content_type, fragment, answer)
        assert fragment in json.loads(answer)["error"], answer
        assert "allow_pickle" not in json.loads(answer)["error"], answer
    for _ in range(15):  # a few hundred bad requests in all
        for body, content_type, status, _ in bad:
            assert call(eurosat_server.url, "/invocations", body, content_type)[0] == status
    assert invoke(eurosat_server.url, png(tile), "image/png") == before
    status, answer = call(eurosat_server.url, "/nowhere")
    assert status == 404 and "error" in json.loads(answer)
    assert "Traceback" not in eurosat_server.output()


def test_eurosat_ping_model_card_and_metrics(eurosat_server):
    assert call(eurosat_server.url, "/ping") == (200, b"")
    status, answer = call(eurosat_server.url, "/model")
    card = json.loads(answer)
    assert status == 200 and (card["name"], card["version"], card["line"]) == ("eurosat-resnet18", "v1", "landcover")
    assert set(card["input"]["content_types"]) == {"image/jpeg", "image/png", "application/x-npy"}
    assert card["input"]["tile"] == [64, 64, 3] and len(card["classes"]) == 10
    assert 0 <= card["metrics"]["test"]["accuracy"] <= 1
    invoke(eurosat_server.url, npy(np.zeros((3, 64, 64, 3), np.uint8)), "application/x-npy")
    assert call(eurosat_server.url, "/invocations", b"1,2", "text/csv")[0] == 415
    status, text = call(eurosat_server.url, "/metrics")
    text = text.decode()
    assert status == 200
    assert 'modelmill_requests_total{route="/invocations",status="200"}' in text
    assert 'modelmill_requests_total{route="/invocations",status="415"}' in text
    assert 'modelmill_request_duration_seconds_bucket{le="0.005",route="/ping"}' in text
    assert 'modelmill_batch_size_bucket{le="4.0"}' in text
    assert 'modelmill_model_info{line="landcover",name="eurosat-resnet18",version="v1"} 1.0' in text


@pytest.mark.parametrize("published, name", [("eurosat", "eurosat-resnet18"), ("fire", "fire-ensemble")])
def test_a_model_describes_itself_alike_from_the_registry_and_the_workspace(published, name, request):
    """One metadata source (registry.publish.build_metadata): GET /model of the workspace's model
    and of its published version differ in the version and the publish time alone."""
    repo = request.getfixturevalue(published)
    args = {"model": name, "version": "latest", "pipeline": None, "model_dir": repo / "none"}
    registry, local = (
        loading.load(Namespace(source=source, **args), repo).predictor.model_info() for source in ("registry", "local")
    )
    assert (registry["version"], local["version"]) == ("v1", "local")
    assert registry["published_at_utc"] and local["published_at_utc"] is None
    assert registry["metrics"]["test"] and registry["sha256"]
    same = {k: v for k, v in registry.items() if k not in ("version", "published_at_utc")}
    assert {k: v for k, v in local.items() if k not in ("version", "published_at_utc")} == same


# --- fire ---------------------------------------------------------------------------------


def test_fire_server_answers_as_evaluate_and_the_predict_command(fire, fire_server, fire_expected, tmp_path):
    test, p, decided = fire_expected
    split_csv = fire / FIRE.folder / "data" / "split" / "test.csv"

    answers = invoke(fire_server.url, split_csv.read_bytes(), "text/csv")  # header, fire and p_fire columns
    assert_close([a["fire_probability"] for a in answers], p)
    assert [a["fire"] for a in answers] == decided.tolist()

    lines_ = split_csv.read_text().splitlines()
    header = lines_[0].split(",")
    first = [dict(zip(header, line.split(","))) for line in lines_[1:4]]
    no_header = "\n".join(",".join(row[f] for f in FEATURES) for row in first).encode()
    objects = [{f: float(row[f]) for f in FEATURES} for row in first]
    lists = [[o[f] for f in FEATURES] for o in objects]
    for body, content_type, n in [
        (no_header, "text/csv", 3),
        (no_header.splitlines()[0], "text/csv", 1),
        (json.dumps(objects[0]).encode(), "application/json", 1),
        (json.dumps(objects).encode(), "application/json; charset=utf-8", 3),
        (json.dumps(lists).encode(), "application/json", 3),
    ]:
        got = invoke(fire_server.url, body, content_type)
        assert [g["fire"] for g in got] == [a["fire"] for a in answers[:n]], content_type
        assert_close([g["fire_probability"] for g in got], [a["fire_probability"] for a in answers[:n]])

    for source in ("registry", "local"):
        out = tmp_path / f"{source}.csv"
        result = run_module(
            "modelmill.serve.predict",
            fire,
            args=(
                "--model",
                "fire-ensemble",
                "--source",
                source,
                "--input",
                str(split_csv),
                "--output",
                str(out),
                "--model-dir",
                str(tmp_path / "none"),
            ),
        )
        assert result.returncode == 0, result.stderr
        rows = read_csv(out)
        assert [int(r["row"]) for r in rows] == list(range(1, len(test) + 1))
        assert_close([float(r["fire_probability"]) for r in rows], p)
        assert [r["fire"] == "1" for r in rows] == decided.tolist()


def test_fire_bad_inputs_get_their_status(fire_server):
    row = ",".join(["1"] * len(FEATURES))
    bad = [
        (",".join(["1"] * 17).encode(), "text/csv", 400, "row 1 has 17 columns; expected 18"),
        (f"{row}\n{row},2".encode(), "text/csv", 400, "row 2 has 19 columns"),
        (row.replace("1", "warm", 1).encode(), "text/csv", 400, "row 1, t_max_c: 'warm' is not a number"),
        ((",".join(FEATURES) + ",heat\n" + row + ",1").encode(), "text/csv", 400, "unknown column(s) 'heat'"),
        (f"{row}\n1abc{row[1:]}".encode(), "text/csv", 400, "row 2, t_max_c: '1abc' is not a number"),
        (row.replace("1", "nan", 1).encode(), "text/csv", 400, "row 1, t_max_c: 'nan' is not a finite number"),
        (
            ",".join(FEATURES[:-1]).encode() + b"\n" + row.encode(),
            "text/csv",
            400,
            "missing column(s) scd41_humidity_pct",
        ),
        (b"\n\n", "text/csv", 400, "no rows"),
        (
            ";".join(FEATURES).encode() + b"\n" + row.replace(",", ";").encode(),
            "text/csv",
            400,
            "separated by semicolons",
        ),
        (row.replace(",", "\t").encode(), "text/csv", 400, "separated by tabs"),
        (f"{row},\n{row},".encode(), "text/csv", 400, "ends with an empty column"),
        (b"\xff\xfe", "text/csv", 400, "not UTF-8"),
        (b"", "text/csv", 400, "empty body"),
        (b"{", "application/json", 400, "not valid JSON"),
        (b'{"t_max_c": 1}', "application/json", 400, "missing key(s) t_mean_c"),
        (json.dumps([[1] * 18, [1] * 3]).encode(), "application/json", 400, "row 2 has 3 values"),
        (json.dumps([dict.fromkeys(FEATURES, "hot")]).encode(), "application/json", 400, '"hot" is not a finite'),
        (b'"text"', "application/json", 400, "must be an object"),
        (row.encode(), "application/xml", 415, "send one of: text/csv, application/json"),
        ((row + "\n").encode() * 40_000, "text/csv", 413, "over the 1 MB limit"),
    ]
    for body, content_type, status, fragment in bad:
        got, answer = call(fire_server.url, "/invocations", body, content_type)
        assert got == status, (fragment, answer)
        assert fragment in json.loads(answer)["error"], answer
    got, answer = call(fire_server.url, "/invocations", b"\xef\xbb\xbf" + row.encode(), "text/csv")  # "CSV UTF-8"
    assert got == 200, answer
    status, answer = call(fire_server.url, "/model")
    card = json.loads(answer)
    assert (card["name"], card["version"], card["line"]) == ("fire-ensemble", "v1", "fire")
    assert card["input"]["features"] == list(FEATURES) and 0 < card["threshold"] < 1
    assert "Traceback" not in fire_server.output()


def test_sagemaker_model_folder_serves_without_s3_and_sigterm_lets_the_request_finish(fire, fire_expected, tmp_path):
    reg = Registry.for_line(FIRE, fire)
    folder = tmp_path / "opt-ml-model"
    folder.mkdir()
    metadata, _ = download_version(reg, folder, 1, line=FIRE)
    (folder / "metadata.json").write_text(json.dumps(metadata))
    # No --model and an S3 endpoint nobody listens on: the folder alone must do.
    server = Server(fire, ("--model-dir", str(folder)), env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"})
    test, p, _ = fire_expected
    body = (fire / FIRE.folder / "data" / "split" / "test.csv").read_bytes()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        conn.putrequest("POST", "/invocations")
        conn.putheader("Content-Type", "text/csv")
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        conn.send(body[:100])
        time.sleep(0.5)  # the server has the request's head: the request is in flight
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        conn.send(body[100:])
        response = conn.getresponse()
        answers = json.loads(response.read())["predictions"]
        assert response.status == 200
        assert_close([a["fire_probability"] for a in answers], p)
    finally:
        code = server.stop()
    assert code == 0, server.output()
    assert "from " + str(folder) in server.output() and "Traceback" not in server.output()


def test_start_up_fails_with_one_line(fire, tmp_path):
    reg = Registry.for_line(FIRE, fire)
    client = s3.client()
    args = ("--model-dir", str(tmp_path / "none"), "--port", str(free_port()))

    def serve(*extra: str) -> subprocess.CompletedProcess:
        return run_module("modelmill.serve", fire, args=(*extra, *args), timeout=120)

    assert_one_line_error(
        serve("--model", "nope"),
        "no line publishes a model named 'nope'",
        "eurosat-resnet18 (landcover), fire-ensemble (fire)",
    )
    assert_one_line_error(
        serve("--model", "fire-ensemble", "--version", "v9"), "v9 of fire-ensemble was never published"
    )

    original = client.get_object(Bucket=reg.bucket, Key=reg.model_key(1))["Body"].read()
    meta_original = client.get_object(Bucket=reg.bucket, Key=reg.metadata_key(1))["Body"].read()
    try:
        client.put_object(Bucket=reg.bucket, Key=reg.model_key(1), Body=original[:-10])
        assert_one_line_error(serve("--model", "fire-ensemble"), "does not match metadata", "do not use it")
        # a file whose metadata was altered to match: the checksum passes, the safe loader refuses it
        client.put_object(Bucket=reg.bucket, Key=reg.model_key(1), Body=b"not skops")
        meta = json.loads(meta_original)
        meta["sha256"] = __import__("hashlib").sha256(b"not skops").hexdigest()
        client.put_object(Bucket=reg.bucket, Key=reg.metadata_key(1), Body=json.dumps(meta).encode())
        # with two workers: the worker's reason is the one line, and the other worker stops too
        failed = serve("--model", "fire-ensemble", "--workers", "2")
        assert_one_line_error(failed, "is not a readable skops model file")
    finally:
        client.put_object(Bucket=reg.bucket, Key=reg.model_key(1), Body=original)
        client.put_object(Bucket=reg.bucket, Key=reg.metadata_key(1), Body=meta_original)

    folder = tmp_path / "model"
    folder.mkdir()
    metadata, path = download_version(reg, folder, 1, line=FIRE)
    (folder / "metadata.json").write_text(json.dumps(metadata))
    original = path.read_bytes()
    path.write_bytes(original + b"x")
    result = run_module("modelmill.serve", fire, args=("--model-dir", str(folder), "--port", str(free_port())))
    assert_one_line_error(result, "fire_ensemble.skops: sha256", "the file was altered or truncated")
    path.write_bytes(original)
    onnx = folder / "fire_ensemble.onnx"
    onnx.write_bytes(onnx.read_bytes()[:-1])
    result = run_module("modelmill.serve", fire, args=("--model-dir", str(folder), "--port", str(free_port())))
    assert_one_line_error(result, "fire_ensemble.onnx: sha256", "the file was altered or truncated")
    onnx.unlink()
    result = run_module("modelmill.serve", fire, args=("--model-dir", str(folder), "--port", str(free_port())))
    assert_one_line_error(result, "has metadata.json but no fire_ensemble.onnx")


def test_ping_is_503_until_a_model_is_loaded(fire):
    import uvicorn

    from modelmill.serve.app import create_app
    from modelmill.serve.loading import from_workspace

    app = create_app(None)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        assert call(url, "/ping")[0] == 503
        assert call(url, "/invocations", b"1", "text/csv")[0] == 503
        app.state.set_predictor(from_workspace(FIRE, Registry.for_line(FIRE, fire), fire).load())
        assert call(url, "/ping")[0] == 200
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_make_serve_passes_sigterm_on_and_the_server_drains(fire, tmp_path):
    """Issue 20: `docker stop` signals make; make passes SIGTERM to the server, which answers what
    is in flight and exits 0. GNU make then re-raises the signal (status 143): docs/serving.md says to
    make the server itself a container's entrypoint."""
    port, venv = free_port(), Path(sys.executable).parent.parent
    log = tmp_path / "make-serve.log"
    with open(log, "w") as out:
        make = subprocess.Popen(
            ["make", "serve", "MODEL=fire-ensemble", "SOURCE=local", f"PORT={port}", f"VENV={venv}"],
            cwd=fire,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and make.poll() is None:
        try:
            if call(url, "/ping")[0] == 200:
                break
        except OSError:
            time.sleep(0.5)
    assert call(url, "/ping")[0] == 200, log.read_text()
    make.send_signal(signal.SIGTERM)  # to make alone, as docker stop does to a container's first process
    assert make.wait(timeout=60) in (-signal.SIGTERM, 128 + signal.SIGTERM), log.read_text()
    output = log.read_text()
    assert "Traceback" not in output
    with pytest.raises(OSError):  # the server went with it: nothing left listening
        call(url, "/ping")


# --- what clients send and ask for; several workers ---------------------------------------


def post(url: str, body: bytes, content_type: str, accept: str | None = None) -> tuple[int, str, bytes]:
    """(status, the answer's content type, body) of POST /invocations."""
    request = urllib.request.Request(url + "/invocations", data=body, headers={"Content-Type": content_type})
    if accept:
        request.add_header("Accept", accept)
    try:
        with HTTP.open(request, timeout=120) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def test_fire_takes_mlflow_requests_and_answers_csv_when_asked(fire_server, fire_expected):
    test, p, decided = fire_expected
    rows = test.x[:5].tolist()
    expected = invoke(fire_server.url, json.dumps(rows).encode(), "application/json")
    assert [a["fire"] for a in expected] == decided[:5].tolist()
    records = [dict(zip(FEATURES, row)) for row in rows]
    for form in (
        {"dataframe_split": {"columns": list(FEATURES), "data": rows}},
        {"dataframe_records": records},
        {"instances": rows},
        {"inputs": {name: [row[i] for row in rows] for i, name in enumerate(FEATURES)}},
    ):
        status, kind, answer = post(fire_server.url, json.dumps(form).encode(), "application/json")
        assert (status, kind) == (200, "application/json"), answer
        assert json.loads(answer) == {"predictions": expected}, form  # MLflow's answer shape, this model's values
    status, _, answer = post(
        fire_server.url, json.dumps({"instances": rows, "inputs": rows}).encode(), "application/json"
    )
    assert status == 400 and "exactly one of dataframe_split" in json.loads(answer)["error"]
    # issue 38: a column named twice was answered 200, scored with its second value
    repeated = {"dataframe_split": {"columns": [*FEATURES[:-1], "co2_ppm"], "data": rows}}
    status, _, answer = post(fire_server.url, json.dumps(repeated).encode(), "application/json")
    assert (status, json.loads(answer)["error"]) == (
        400,
        "dataframe_split.columns: repeated column(s) co2_ppm; name each column once",
    )
    record = json.dumps({"dataframe_records": records[:1]}).replace('{"t_max_c"', '{"co2_ppm": 1, "t_max_c"', 1)
    status, _, answer = post(fire_server.url, record.encode(), "application/json")
    assert status == 400 and json.loads(answer)["error"].startswith("repeated key(s) 'co2_ppm' in one JSON object")

    body = "\n".join(",".join(repr(v) for v in row) for row in rows).encode()
    status, kind, answer = post(fire_server.url, body, "text/csv", accept="text/csv")
    assert (status, kind) == (200, "text/csv; charset=utf-8"), answer
    lines_ = [line.split(",") for line in answer.decode().splitlines()]
    assert_close([float(line[0]) for line in lines_], [a["fire_probability"] for a in expected])
    assert [line[1] == "1" for line in lines_] == decided[:5].tolist()
    status, _, answer = post(fire_server.url, body, "text/csv", accept="image/png")
    assert status == 406
    assert (
        json.loads(answer)["error"] == "cannot answer in image/png; this model answers in: application/json, text/csv"
    )


def test_execution_parameters_and_accept_for_an_image_model(eurosat_server, fire_server):
    """SageMaker batch transform asks GET /execution-parameters first."""
    status, answer = call(fire_server.url, "/execution-parameters")
    assert status == 200
    assert json.loads(answer) == {"MaxConcurrentTransforms": 2, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 1}
    status, answer = call(eurosat_server.url, "/execution-parameters")
    assert json.loads(answer)["MaxConcurrentTransforms"] == 1
    tile = npy(np.zeros((1, 64, 64, 3), np.uint8))
    assert post(eurosat_server.url, tile, "application/x-npy", accept="text/csv")[0] == 406
    assert post(eurosat_server.url, tile, "application/x-npy", accept="text/*, application/*")[0] == 200


def connections_to_every_worker(server: Server, most: int = 24) -> dict[int, list[http.client.HTTPConnection]]:
    """Keep-alive connections to `server`, grouped by the worker process that accepted each (the
    kernel picks), until every worker holds at least one."""
    import psutil

    workers = {  # not multiprocessing's resource tracker, the server's other child
        child.pid: child
        for child in psutil.Process(server.proc.pid).children()
        if any("spawn_main" in part for part in child.cmdline())
    }
    held: dict[int, list[http.client.HTTPConnection]] = {pid: [] for pid in workers}
    for _ in range(most):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        local = conn.sock.getsockname()[1]
        for _ in range(100):  # until a worker's event loop has accepted it
            owner = next(
                (
                    pid
                    for pid, process in workers.items()
                    if any(c.raddr and c.raddr.port == local for c in process.net_connections(kind="tcp"))
                ),
                None,
            )
            if owner:
                break
            time.sleep(0.05)
        assert owner, "no worker accepted the connection"
        held[owner].append(conn)
        if all(held.values()):
            return held
    raise AssertionError(f"{most} connections never reached every worker: { ({p: len(c) for p, c in held.items()}) }")


def requests_counted(conn: http.client.HTTPConnection) -> float:
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    for line in text.splitlines():
        if line.startswith('modelmill_requests_total{route="/invocations",status="200"}'):
            return float(line.split()[-1])
    return 0.0


def test_two_workers_show_one_consistent_metrics(fire_server):
    held = connections_to_every_worker(fire_server)
    assert len(held) == 2
    first = [conns[0] for conns in held.values()]
    before = [requests_counted(conn) for conn in first]
    assert before[0] == before[1]  # each worker reports the whole server
    row = ",".join(["1"] * len(FEATURES)).encode()
    sent = 0
    for conns in held.values():
        for conn in conns:
            for _ in range(3):
                conn.request("POST", "/invocations", row, {"Content-Type": "text/csv"})
                response = conn.getresponse()
                assert response.status == 200, response.read()
                response.read()
                sent += 1
    after = [requests_counted(conn) for conn in first]
    assert after == [before[0] + sent] * 2
    for conns in held.values():
        for conn in conns:
            conn.close()


def test_sigterm_drains_a_request_in_flight_on_every_worker(fire, fire_expected):
    server = Server(fire, ("--model", "fire-ensemble", "--model-dir", str(fire / "none"), "--workers", "2"))
    test, p, _ = fire_expected
    body = (fire / FIRE.folder / "data" / "split" / "test.csv").read_bytes()
    try:
        held = connections_to_every_worker(server)
        conns = [conn for group in held.values() for conn in group]
        for conn in conns:  # each worker has a request's head and part of its body
            conn.putrequest("POST", "/invocations")
            conn.putheader("Content-Type", "text/csv")
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders()
            conn.send(body[:100])
        time.sleep(0.5)
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        for conn in conns:
            conn.send(body[100:])
        for conn in conns:
            response = conn.getresponse()
            assert response.status == 200
            assert_close([a["fire_probability"] for a in json.loads(response.read())["predictions"]], p)
    finally:
        code = server.stop()
    assert code == 0, server.output()
    assert "2 workers" in server.output() and "Traceback" not in server.output()


# --- a server following an alias -----------------------------------------------------------


def fire_variant(fire: Path, dest: Path, temperature: float) -> Path:
    """A copy of the fire project with its ensemble weighed again (another model file, other
    answers): a new version to publish, in seconds."""
    from modelmill.fire.ensemble import make_ensemble
    from modelmill.fire.params import load_params

    repo = copy_project(fire, dest)
    folder = repo / FIRE.folder
    edit_yaml(folder / "params.yaml", {"ensemble.temperature": temperature})
    models = folder / "models"
    params = load_params(folder / "params.yaml")
    make_ensemble(
        params.ensemble,
        params.train,
        folder / "data" / "split",
        models,
        folder / "data" / "samples.csv",
        models / "fire_ensemble.skops",
        models / "ensemble.json",
    )
    return repo


def model_version(server: Server) -> str:
    return json.loads(call(server.url, "/model")[1])["version"]


def wait_until(condition, what: str, seconds: float = 60, failed: list | None = None) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert not failed, failed
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.1)


def test_a_server_following_an_alias_switches_between_requests_and_keeps_a_bad_version_out(
    fire, fire_expected, tmp_path, monkeypatch
):
    """Issue 25: publish v1, v2 and a v3 whose ONNX export is damaged; serve `production` with
    FOLLOW while a client sends requests without a pause; promote v2, then v3, then roll back
    to v1. Every answer is 200 and computed whole by one complete version (its p(fire) is that
    version's), the switches happen in order, v3 never answers, and /metrics counts it all."""
    monkeypatch.setenv("MODEL_NAME", "fire-follow")
    reg, client = Registry.for_line(FIRE, fire), s3.client()
    second = fire_variant(fire, tmp_path / "second", 100.0)
    bad = copy_project(second, tmp_path / "bad")
    (bad / FIRE.folder / "models" / "fire_ensemble.onnx").write_bytes(b"not onnx")
    published = [publish(reg, repo, line=FIRE, check_pipeline=False) for repo in (fire, second, bad)]
    assert [p.version for p in published] == [1, 2, 3] and all(p.created for p in published)
    test, p, _ = fire_expected
    row = test.x[:1]
    expected = {
        "v1": p[0],
        "v2": loading.from_workspace(FIRE, reg, second).load().predict(row)[0]["fire_probability"],
    }
    assert abs(expected["v1"] - expected["v2"]) > 1e-6  # the answers tell the versions apart
    promote(client, reg, "v1", "production")
    args = ("--model", "fire-follow", "--pipeline", "fire", "--version", "production", "--follow", "200ms")
    server = Server(fire, (*args, "--workers", "1", "--model-dir", str(fire / "none")))
    answers: list[tuple[int, str, bytes]] = []
    stop, failed = threading.Event(), []

    def send() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        body = ",".join(repr(v) for v in row[0].tolist()).encode()
        try:
            while not stop.is_set():
                conn.request("POST", "/invocations", body, {"Content-Type": "text/csv"})
                response = conn.getresponse()
                answers.append((response.status, response.getheader("X-Model-Version"), response.read()))
        except Exception as exc:  # a request that fails is what this test is about: keep it
            failed.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        wait_until(lambda: len(answers) > 20, "answers from v1", failed=failed)
        promote(client, reg, "v2", "production", reason="better")
        wait_until(lambda: model_version(server) == "v2", "the switch to v2")
        promote(client, reg, "v3", "production")
        wait_until(lambda: "production -> v3 was not loaded" in server.output(), "v3 refused")
        assert model_version(server) == "v2"
        promote(client, reg, "v1", "production", reason="roll back")
        wait_until(lambda: model_version(server) == "v1", "the roll back to v1")
        wait_until(lambda: answers[-1][1] == "v1", "answers from v1 again", failed=failed)
        metrics = call(server.url, "/metrics")[1].decode()
    finally:
        stop.set()
        sender.join(timeout=60)
        code = server.stop()
    assert code == 0, server.output()
    assert not failed and {status for status, _, _ in answers} == {200}, failed
    order = [version for i, (_, version, _) in enumerate(answers) if i == 0 or answers[i - 1][1] != version]
    assert order == ["v1", "v2", "v1"], order
    for _, version, body in answers:
        assert abs(json.loads(body)["predictions"][0]["fire_probability"] - expected[version]) < 1e-5
    assert 'modelmill_model_switches_total{outcome="loaded"} 2.0' in metrics
    assert 'modelmill_model_switches_total{outcome="failed"} 1.0' in metrics
    assert 'modelmill_model_info{line="fire",name="fire-follow",version="v1"} 1.0' in metrics
    assert 'modelmill_model_info{line="fire",name="fire-follow",version="v2"} 0.0' in metrics
    assert "production moved v1 -> v2" in server.output() and "Traceback" not in server.output()


# --- watching what the served model sees ---------------------------------------------------


def serve_and_capture(fire: Path, capture: Path, body: bytes, requests: int) -> str:
    """Serve fire-ensemble v1 with two workers capturing every request into `capture`, send `body`
    `requests` times, and return /metrics as the server saw it before it stopped (and flushed)."""
    args = ("--model", "fire-ensemble", "--model-dir", str(fire / "none"), "--workers", "2")
    server = Server(fire, (*args, "--capture", str(capture), "--capture-rate", "1"))
    try:
        for _ in range(requests):
            invoke(server.url, body, "text/csv")
        time.sleep(1)  # the live window is fed off the request path
        metrics = call(server.url, "/metrics")[1].decode()
    finally:
        code = server.stop()
    assert code == 0 and "Traceback" not in server.output(), server.output()
    return metrics


def test_captured_traffic_is_reported_against_the_published_baseline(fire, tmp_path):
    """Issue 26 end to end: traffic like the test split is captured, shows in the live gauges and
    passes make monitor (exit 0); the same rows with the CO2 sensor reading 200 ppm high are
    flagged on co2_ppm (exit 3), with a report.json and a report.png."""
    test_csv = fire / FIRE.folder / "data" / "split" / "test.csv"
    rows = test_csv.read_text().splitlines()
    header, co2 = rows[0].split(","), rows[0].split(",").index("co2_ppm")
    shifted = [rows[0]]
    for line in rows[1:]:
        cells = line.split(",")
        cells[co2] = repr(float(cells[co2]) + 200)
        shifted.append(",".join(cells))
    assert len(header) > co2 and len(rows) > 300

    metrics = serve_and_capture(fire, tmp_path / "same", test_csv.read_bytes(), 2)
    assert f'modelmill_capture_records_total{{outcome="sampled"}} {2.0 * (len(rows) - 1)}' in metrics
    assert 'modelmill_feature_drift{feature="co2_ppm"}' in metrics
    serve_and_capture(fire, tmp_path / "shifted", "\n".join(shifted).encode(), 2)

    def monitor(capture: Path, out: Path) -> subprocess.CompletedProcess:
        args = ("--model", "fire-ensemble", "--version", "v1", "--capture", str(capture), "--out", str(out))
        return run_module("modelmill.monitor", fire, args=args, timeout=300)

    same = monitor(tmp_path / "same", tmp_path / "report-same")
    assert same.returncode == 0, same.stderr
    report = json.loads((tmp_path / "report-same" / "report.json").read_text())
    assert report["drifted"] is False and (tmp_path / "report-same" / "report.png").stat().st_size > 0
    drifted = monitor(tmp_path / "shifted", tmp_path / "report-shifted")
    assert drifted.returncode == 3, drifted.stderr
    report = json.loads((tmp_path / "report-shifted" / "report.json").read_text())
    assert report["drifted"] is True and "co2_ppm" in report["drifted_features"], report["drifted_features"]
    assert_one_line_error(monitor(tmp_path / "nothing", tmp_path / "report-none"), "not found")  # exit 1

    # Issue 38: through make, drift and an error both end in make's status 2; make monitor's last
    # line says which it was, and the command it prints (the scheduler's) keeps 0, 3 and 1 apart.
    venv = Path(sys.executable).parent.parent
    outcomes = {
        "same": (0, "monitor: no drift (exit 0)"),
        "shifted": (2, "monitor: DRIFT (exit 3; make fails for it with its own status 2: "),
        "nothing": (2, "monitor: error (exit 1)"),
    }
    try:
        for capture, (status, last) in outcomes.items():
            made = subprocess.run(
                [
                    "make",
                    "--no-print-directory",
                    "monitor",
                    "MODEL=fire-ensemble",
                    "VERSION=v1",
                    f"CAPTURE={tmp_path / capture}",
                    f"VENV={venv}",
                ],
                cwd=fire,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert made.returncode == status, made.stdout + made.stderr
            assert made.stdout.splitlines()[-1].startswith(last), made.stdout
            scheduler = shlex.split(made.stdout.splitlines()[0])
            assert scheduler[:3] == ["python", "-m", "modelmill.monitor"]
            assert f"--capture={tmp_path / capture}" in scheduler, scheduler
        # the command make printed, run as a scheduler would (0 and 1: `monitor` above)
        assert run_module("modelmill.monitor", fire, args=tuple(scheduler[3:]), timeout=300).returncode == 1
        shifted = [arg.replace("nothing", "shifted") for arg in scheduler[3:]]
        assert run_module("modelmill.monitor", fire, args=tuple(shifted), timeout=300).returncode == 3
    finally:
        shutil.rmtree(fire / "monitor", ignore_errors=True)
