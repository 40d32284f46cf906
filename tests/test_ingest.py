import hashlib
import http.server
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile

import boto3
import pytest
from conftest import SRC, assert_one_line_error, run_module, write_params

from modelmill.core.cli import UserError
from modelmill.core.io import file_digest
from modelmill.landcover.ingest import download, ingest


def test_synthetic_archive_is_deterministic(make_params, tmp_path):
    cfg = make_params(data__source="synthetic", data__synthetic_per_class=5).data
    first = ingest(cfg, tmp_path / "a.zip")
    second = ingest(cfg, tmp_path / "b.zip")
    assert first == second == file_digest(tmp_path / "a.zip")
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        names = archive.namelist()
    assert len(names) == 50
    assert "2750/Forest/Forest_5.jpg" in names


def test_local_archive_with_checksum(make_params, synthetic_zip, tmp_path):
    digest = file_digest(synthetic_zip)
    cfg = make_params(data__source="archive", data__archive=str(synthetic_zip), data__sha256=digest).data
    assert ingest(cfg, tmp_path / "raw.zip") == digest
    assert (tmp_path / "raw.zip").read_bytes() == synthetic_zip.read_bytes()


def test_checksum_mismatch_keeps_nothing(make_params, synthetic_zip, tmp_path):
    dest = tmp_path / "raw" / "eurosat.zip"
    cfg = make_params(data__source="archive", data__archive=str(synthetic_zip), data__sha256="0" * 64).data
    with pytest.raises(UserError, match=f"expected sha256 {'0' * 64}, got {file_digest(synthetic_zip)}"):
        ingest(cfg, dest)
    assert list(dest.parent.iterdir()) == []


def test_a_folder_given_as_the_archive_is_named(make_params, tmp_path):
    cfg = make_params(data__source="archive", data__archive=str(tmp_path)).data
    with pytest.raises(UserError, match=r"data.archive '.+' is a folder \(resolved to .+\); name the zip file"):
        ingest(cfg, tmp_path / "raw" / "eurosat.zip")


def test_missing_archive(make_params, tmp_path):
    cfg = make_params(data__source="archive", data__archive=str(tmp_path / "nope.zip")).data
    with pytest.raises(UserError, match="does not exist"):
        ingest(cfg, tmp_path / "raw.zip")


def test_empty_archive_setting(make_params, tmp_path):
    cfg = make_params(data__source="archive", data__archive="").data
    with pytest.raises(UserError, match="data.archive is empty"):
        ingest(cfg, tmp_path / "raw.zip")


def test_not_a_zip_is_refused(make_params, tmp_path):
    bogus = tmp_path / "EuroSAT.zip"
    bogus.write_bytes(b"<html>404 not found</html>")
    cfg = make_params(data__source="archive", data__archive=str(bogus)).data
    with pytest.raises(UserError, match="is not a zip archive"):
        ingest(cfg, tmp_path / "raw" / "eurosat.zip")
    assert not (tmp_path / "raw" / "eurosat.zip").exists()


def test_s3_mirror(make_params, synthetic_zip, s3_env, tmp_path):
    boto3.client("s3").create_bucket(Bucket=s3_env["bucket"])
    boto3.client("s3").upload_file(str(synthetic_zip), s3_env["bucket"], "mirror/EuroSAT.zip")
    cfg = make_params(data__source="archive", data__archive=f"s3://{s3_env['bucket']}/mirror/EuroSAT.zip").data
    assert ingest(cfg, tmp_path / "raw.zip") == file_digest(synthetic_zip)


def test_s3_mirror_missing_object(make_params, s3_env, tmp_path):
    boto3.client("s3").create_bucket(Bucket=s3_env["bucket"])
    cfg = make_params(data__source="archive", data__archive=f"s3://{s3_env['bucket']}/nope.zip").data
    with pytest.raises(UserError, match="no such object"):
        ingest(cfg, tmp_path / "raw.zip")
    assert not (tmp_path / "raw.zip").exists()


class _Slow(http.server.BaseHTTPRequestHandler):
    payload = b""
    delay = 0.0

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        for start in range(0, len(self.payload), 64 * 1024):
            self.wfile.write(self.payload[start : start + 64 * 1024])
            time.sleep(self.delay)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server(synthetic_zip):
    _Slow.payload = synthetic_zip.read_bytes()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/EuroSAT.zip"
    server.shutdown()


def test_download_checks_md5(http_server, synthetic_zip, tmp_path):
    md5 = hashlib.md5(synthetic_zip.read_bytes()).hexdigest()
    download(http_server, tmp_path / "a.zip", md5=md5)
    assert (tmp_path / "a.zip").read_bytes() == synthetic_zip.read_bytes()
    with pytest.raises(UserError, match=f"expected md5 {'f' * 32}, got {md5}"):
        download(http_server, tmp_path / "b.zip", md5="f" * 32)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_download_says_how_to_use_a_local_copy(tmp_path):
    with pytest.raises(UserError) as err:
        download(f"http://127.0.0.1:{_closed_port()}/EuroSAT.zip", tmp_path / "a.zip", md5="0" * 32)
    assert "could not download" in str(err.value)
    assert "data.source: archive" in str(err.value)


def test_offline_eurosat_source_cli(tmp_path):
    """The real `eurosat` source with no network (a proxy on a closed loopback port stands for it)."""
    write_params(tmp_path / "params.yaml", {"data.source": "eurosat"})
    proxy = f"http://127.0.0.1:{_closed_port()}"
    result = run_module("modelmill.landcover.ingest", tmp_path, env={"https_proxy": proxy, "HTTPS_PROXY": proxy})
    assert_one_line_error(result, "could not download", "data.archive")
    raw = tmp_path / "data" / "raw"
    assert not raw.exists() or list(raw.iterdir()) == []


def test_interrupted_download_leaves_no_partial_archive(http_server, tmp_path):
    _Slow.payload = bytes(8 * 1024 * 1024)  # 8 MB at ~1.3 MB/s: the kill lands mid-download
    _Slow.delay = 0.05
    dest = tmp_path / "data" / "raw" / "eurosat.zip"
    code = (
        "from modelmill.core.cli import cli\n"
        "from modelmill.core.io import atomic_output\n"
        "from modelmill.landcover.ingest import download\n"
        "@cli\n"
        "def main():\n"
        f"    with atomic_output({str(dest)!r}) as tmp:\n"
        f"        download({http_server!r}, tmp, md5='0' * 32)\n"
        "main()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        stderr=subprocess.PIPE,
        text=True,
    )
    partial = dest.with_name(".eurosat.zip.partial")
    deadline = time.time() + 60
    while not (partial.exists() and partial.stat().st_size > 0) and time.time() < deadline:
        time.sleep(0.05)
    assert partial.exists(), "the download never started"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    _Slow.delay = 0.0
    assert proc.returncode == 130
    assert "interrupted" in stderr
    assert list(dest.parent.iterdir()) == []
